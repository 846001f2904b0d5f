"""Checkpoint hashes are checked, loading never runs pickled code, key mismatches are named."""
import hashlib
import pickle

import pytest
import torch
from torch import nn

from zoo.checkpoints import CheckpointError, load_state_dict, load_strict, sha256_of, verify
from zoo.families.efficientnet_lite.torch import map_by_position
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
