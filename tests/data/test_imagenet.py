"""ImageNet loader on a small generated synset tree: canonical class indices, errors, preprocessing."""
import numpy as np
import pytest
from PIL import Image

from zoo.data.base import DatasetError
from zoo.data.real.imagenet import ImageNetVal, scan, synsets
from zoo.data.transforms import Preprocess


def make_tree(root, layout):
    for wnid, count in layout.items():
        (root / wnid).mkdir(parents=True)
        for i in range(count):
            pixels = np.full((40, 60, 3), i * 40, dtype=np.uint8)
            Image.fromarray(pixels).save(root / wnid / f"ILSVRC2012_val_{wnid}_{i:08d}.JPEG")


def test_canonical_synset_list():
    wnids = synsets()
    assert len(wnids) == 1000 and wnids[0] == "n01440764" and wnids[-1] == "n15075141"
    assert list(wnids) == sorted(wnids)


def test_labels_are_canonical_indices_even_for_a_subset_of_classes(tmp_path):
    make_tree(tmp_path, {"n01440764": 2, "n15075141": 1, "n02123045": 3})
    samples = scan(tmp_path)
    assert len(samples) == 6
    assert sorted({label for _, label in samples}) == [0, 281, 999]


def test_unknown_directory_is_an_error(tmp_path):
    make_tree(tmp_path, {"cats": 1})
    with pytest.raises(DatasetError, match="'cats' is not an ImageNet synset id"):
        scan(tmp_path)


def test_items_are_preprocessed_tensors_with_label_sets(tmp_path):
    make_tree(tmp_path, {"n02123045": 2})
    dataset = ImageNetVal(tmp_path, Preprocess(resize=32, crop=28))
    image, label = dataset[1]
    assert tuple(image.shape) == (3, 28, 28) and label == 281
    assert dataset.label_sets() == [frozenset({281})] * 2
    assert len(dataset.calibration_images(5, seed=0)) == 2


def test_preprocess_normalizes_with_the_given_statistics():
    image = Image.fromarray(np.full((10, 10, 3), 127, dtype=np.uint8))
    tensor = Preprocess(resize=10, crop=10, mean=(127 / 255,) * 3, std=(128 / 255,) * 3)(image)
    assert float(tensor.abs().max()) < 1e-6


def test_training_pairs_are_a_seeded_sample_of_the_train_split_beside_val(tmp_path):
    make_tree(tmp_path / "val", {"n02123045": 1})
    make_tree(tmp_path / "train", {"n01440764": 3, "n15075141": 3})
    dataset = ImageNetVal(tmp_path / "val", Preprocess(resize=32, crop=28))

    pairs = dataset.training_pairs(4, seed=0)

    assert len(pairs) == 4
    image, label = pairs[0]
    assert tuple(image.shape) == (3, 28, 28) and label in (0, 999)
    assert pairs.keys == dataset.training_pairs(4, seed=0).keys
    assert pairs.keys != dataset.training_pairs(4, seed=1).keys
    assert len(dataset.training_pairs(0, seed=0)) == 6


def test_training_pairs_without_a_train_split_name_the_directory(tmp_path):
    make_tree(tmp_path / "val", {"n02123045": 1})
    with pytest.raises(DatasetError, match="train: quantization-aware training needs the ImageNet training split"):
        ImageNetVal(tmp_path / "val", Preprocess()).training_pairs(4, seed=0)
