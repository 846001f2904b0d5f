"""Published cases with wrong inputs fail before any evaluation, naming what is wrong."""
import dataclasses

import pytest
import torch

from tests.data.test_imagenet import make_tree
from zoo.catalog import REGISTRY
from zoo.checkpoints import CheckpointError
from zoo.data.base import DatasetError
from zoo.families.mobilenet_v2.torch import MobileNetV2
from zoo.pipeline import CaseInputs, measure

MOBILENET = REGISTRY["pt_mobilenet_v2.w8a8.imagenet"]


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / MOBILENET.checkpoint.filename
    torch.save(MobileNetV2().state_dict(), path)
    return path


@pytest.fixture
def partial_imagenet(tmp_path):
    root = tmp_path / "imagenet" / "val"
    make_tree(root, {"n01440764": 2, "n02123045": 1})
    return root


def test_checkpoint_with_wrong_hash_fails_naming_file_and_hashes(checkpoint, partial_imagenet, tmp_path):
    with pytest.raises(CheckpointError) as info:
        measure(MOBILENET, CaseInputs(partial_imagenet, checkpoint), torch.device("cpu"), tmp_path, 50000)
    assert str(checkpoint) in str(info.value) and "does not start with f2a8633" in str(info.value)


def test_partial_dataset_fails_with_expected_and_found_counts(checkpoint, partial_imagenet, tmp_path):
    unpinned = dataclasses.replace(MOBILENET, checkpoint=dataclasses.replace(MOBILENET.checkpoint, sha256_prefix=None))
    with pytest.raises(DatasetError, match="found 3 samples under .* expected 50000"):
        measure(unpinned, CaseInputs(partial_imagenet, checkpoint), torch.device("cpu"), tmp_path, 50000)


def test_published_checkpoint_keys_load_into_the_architecture(checkpoint):
    """The tonylins key layout: features.N..., classifier.weight/bias (strict load)."""
    from zoo.catalog import MODELS

    model = MODELS["mobilenet_v2"].build(checkpoint)
    keys = set(model.state_dict())
    assert {"features.0.0.weight", "features.1.conv.3.weight", "features.2.conv.7.running_var",
            "features.18.1.bias", "classifier.weight"} <= keys


def test_lite0_architecture_has_the_gen_efficientnet_key_layout():
    """efficientnet_lite0_ra-37913777.pth uses rwightman's names: conv_stem, bn1, blocks.i.j.*, conv_head."""
    from zoo.catalog import MODELS

    keys = set(MODELS["efficientnet_lite0"].build(None).state_dict())
    assert {"conv_stem.weight", "bn1.running_mean", "blocks.0.0.conv_dw.weight", "blocks.0.0.conv_pw.weight",
            "blocks.1.0.conv_pwl.weight", "blocks.6.0.bn3.bias", "conv_head.weight", "bn2.weight",
            "classifier.weight"} <= keys
    assert len([k for k in keys if not k.endswith("num_batches_tracked")]) == 247


def test_declared_subset_accepts_a_partial_tree_with_seeded_samples(partial_imagenet):
    from zoo.data.base import select_samples
    from zoo.data.real.imagenet import ImageNetVal
    from zoo.data.transforms import Preprocess

    dataset = ImageNetVal(partial_imagenet, Preprocess(32, 28))
    view = select_samples(dataset, "c", partial_imagenet, 50000, subset=2)
    again = select_samples(dataset, "c", partial_imagenet, 50000, subset=2)
    assert len(view) == 2 and view.sample_ids() == again.sample_ids()
    assert view.label_sets() == [dataset.label_sets()[i] for i in view.indices]
    assert view.fingerprint() != dataset.fingerprint()
    with pytest.raises(DatasetError, match="--subset 5 needs at least 5 samples, found 3"):
        select_samples(dataset, "c", partial_imagenet, 50000, subset=5)
