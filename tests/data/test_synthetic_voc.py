"""Synthetic VOC tree: the real loaders read it, boxes and masks agree exactly, perfect predictions score 100."""
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from zoo.data.synthetic.voc import BORDER, CLASSES, DIFFICULT_AREA, generate, main, tree_digest
from zoo.data.real.voc import VOC_CLASSES, VocDetection, VocSegmentation, objects_as_arrays, read_annotation, read_mask
from zoo.metrics.detection import ImageDetections, ImageGroundTruth, mean_ap
from zoo.metrics.segmentation import ConfusionMatrix

# about 13% of objects are difficult; seed 1 puts both kinds among its first 6 images
SEED, IMAGES, SIZE = 1, 6, (96, 128)
SPLITS_2007 = ("train", "val", "trainval", "test")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("synthetic_voc")
    generate(path, IMAGES, SEED, SIZE)
    return path


def detection(root, split):
    return VocDetection(root / "VOC2007", f"ImageSets/Main/{split}.txt")


def masks(root, image_id):
    """(SegmentationClass, SegmentationObject) of one image."""
    return tuple(read_mask(root / "VOC2012" / folder / f"{image_id}.png")
                 for folder in ("SegmentationClass", "SegmentationObject"))


def all_ids(root):
    return detection(root, "trainval").image_ids + detection(root, "test").image_ids


def test_the_real_loaders_read_every_split(root):
    sizes = {split: len(detection(root, split)) for split in SPLITS_2007}
    assert sizes == {"train": 1, "val": 2, "trainval": 3, "test": 3}
    assert set(detection(root, "trainval").image_ids).isdisjoint(detection(root, "test").image_ids)
    image, objects = detection(root, "test")[0]
    assert image.mode == "RGB" and image.size == (SIZE[1], SIZE[0]) and objects
    val = VocSegmentation(root / "VOC2012")
    train = VocSegmentation(root / "VOC2012", "ImageSets/Segmentation/train.txt")
    assert val.image_ids == detection(root, "test").image_ids
    assert train.image_ids == detection(root, "trainval").image_ids
    image, mask = val[0]
    assert mask.shape == SIZE and image.size == (SIZE[1], SIZE[0])


def test_xml_boxes_are_the_tight_boxes_of_the_instance_masks(root):
    for image_id in all_ids(root):
        objects = read_annotation(root / "VOC2007" / "Annotations" / f"{image_id}.xml")
        classes, instances = masks(root, image_id)
        assert sorted(set(np.unique(instances).tolist()) - {0, 255}) == list(range(1, len(objects) + 1)), image_id
        for k, obj in enumerate(objects, start=1):
            ys, xs = np.nonzero(instances == k)
            assert obj.bbox == (xs.min() + 1, ys.min() + 1, xs.max() + 1, ys.max() + 1), (image_id, k)
            assert (classes[instances == k] == obj.label + 1).all(), (image_id, k)
        assert ((classes == 255) == (instances == 255)).all() and (classes[instances == 0] == 0).all()


def test_masks_hold_only_the_used_classes_background_and_a_border_band(root):
    allowed = {0, 255} | {VOC_CLASSES.index(name) + 1 for name in CLASSES}
    seen = set()
    for image_id in all_ids(root):
        classes, _ = masks(root, image_id)
        seen |= set(np.unique(classes).tolist())
        objects = (classes != 0) & (classes != 255)
        window = 2 * BORDER + 1
        near = np.lib.stride_tricks.sliding_window_view(np.pad(objects, BORDER), (window, window)).any(axis=(2, 3))
        assert ((classes == 255) == (near & ~objects)).all(), f"{image_id}: 255 is not exactly the band around objects"
    assert seen <= allowed and {0, 255} <= seen and len(seen - {0, 255}) >= 2
    with Image.open(root / "VOC2012" / "SegmentationClass" / f"{all_ids(root)[0]}.png") as png:
        assert png.getpalette()[3 * 20:3 * 21] == [0, 64, 128]  # tvmonitor (20) in the devkit colour map


def test_every_object_has_truncated_and_difficult_tags_and_tiny_objects_are_difficult(root):
    flags = []
    for image_id in all_ids(root):
        xml = root / "VOC2007" / "Annotations" / f"{image_id}.xml"
        tags = [(o.findtext("truncated"), o.findtext("difficult")) for o in ET.parse(xml).getroot().iter("object")]
        assert all(t in ("0", "1") and d in ("0", "1") for t, d in tags), xml
        _, instances = masks(root, image_id)
        for k, obj in enumerate(read_annotation(xml), start=1):
            if (instances == k).sum() < DIFFICULT_AREA * instances.size:
                assert obj.difficult, (image_id, k)
            flags.append(obj.difficult)
    assert any(flags) and not all(flags)


def ground_truths(dataset):
    return [ImageGroundTruth(*objects_as_arrays(objects)) for _, objects in dataset]


def as_detections(truth, drop=None):
    keep = np.arange(len(truth.labels)) != drop
    return ImageDetections(truth.boxes[keep], truth.labels[keep], np.ones(int(keep.sum())))


@pytest.mark.parametrize("split", ["trainval", "test"])
def test_ground_truth_as_detections_scores_ap_100_and_a_missed_box_does_not(root, split):
    truths = ground_truths(detection(root, split))
    detections = [as_detections(t) for t in truths]
    for use_07 in (True, False):
        assert mean_ap(detections, truths, len(VOC_CLASSES), use_07) == pytest.approx(100.0)
    i = next(i for i, t in enumerate(truths) if (~t.difficult).any())
    detections[i] = as_detections(truths[i], drop=int(np.flatnonzero(~truths[i].difficult)[0]))
    assert mean_ap(detections, truths, len(VOC_CLASSES), use_07_metric=False) < 100.0


def test_masks_against_themselves_give_miou_100_and_an_erased_object_does_not(root):
    dataset = VocSegmentation(root / "VOC2012", "ImageSets/Segmentation/trainval.txt")
    perfect, erased = ConfusionMatrix(), ConfusionMatrix()
    for i in range(len(dataset)):
        _, mask = dataset[i]
        perfect.update(mask, mask)
        objects = (mask != 0) & (mask != 255)
        erased.update(np.where(objects, 0, mask) if i == 0 else mask, mask)
    assert perfect.miou() == 100.0
    assert erased.miou() < 100.0


def test_same_seed_gives_the_same_bytes_and_another_seed_other_images(root, tmp_path):
    generate(tmp_path / "again", IMAGES, SEED, SIZE)
    generate(tmp_path / "other", IMAGES, SEED + 1, SIZE)
    assert tree_digest(tmp_path / "again") == tree_digest(root)
    image_id = all_ids(root)[0]
    for tree in ("again", "other"):
        same = (tmp_path / tree / "VOC2007" / "JPEGImages" / f"{image_id}.jpg").read_bytes() == \
            (root / "VOC2007" / "JPEGImages" / f"{image_id}.jpg").read_bytes()
        assert same == (tree == "again")


def test_generate_refuses_to_write_into_an_existing_tree(root):
    with pytest.raises(FileExistsError, match=r"VOC2007 is not empty; delete it or choose another --out"):
        generate(root, IMAGES, SEED, SIZE)


def test_cli_writes_a_tree_the_loaders_read(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--images", "4", "--seed", "3", "--size", "64x80"]) == 0
    assert "wrote 4 images (64x80, seed 3)" in capsys.readouterr().out
    assert len(VocDetection(tmp_path / "VOC2007")) == 2 and len(VocSegmentation(tmp_path / "VOC2012")) == 2
    assert main(["--out", str(tmp_path), "--images", "4"]) == 2
    assert "is not empty" in capsys.readouterr().err
