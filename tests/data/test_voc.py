"""VOC loaders on generated VOCdevkit trees: XML parsing, class indices, palette masks, partial-tree errors."""
import numpy as np
import pytest
from PIL import Image

from zoo.data.base import DatasetError
from zoo.data.real.voc import VOC_CLASSES, VocDetection, VocObject, VocSegmentation, objects_as_arrays, read_annotation
from zoo.data.synthetic.voc import voc_palette

# (name, xmin, ymin, xmax, ymax, difficult tag text or None for no tag)
OBJECTS = {
    "000001": [("dog", 48, 240, 195, 371, "0"), ("person", 8, 12, 352, 498, "1")],
    "000002": [("tvmonitor", 1, 1, 60.5, 40, None), ("aeroplane", 10, 10, 20, 20, "0")],
}


def annotation_xml(image_id, objects):
    parts = [f"<annotation><folder>VOC2007</folder><filename>{image_id}.jpg</filename>"
             "<size><width>64</width><height>48</height><depth>3</depth></size>"]
    for name, x1, y1, x2, y2, difficult in objects:
        tag = "" if difficult is None else f"<difficult>{difficult}</difficult>"
        parts.append(f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>{tag}"
                     f"<bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>")
    return "".join(parts) + "</annotation>"


def write_image(path, size=(64, 48)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), 90, dtype=np.uint8)).save(path)


def voc2007(root, objects=OBJECTS, listed=None):
    (root / "Annotations").mkdir(parents=True)
    for image_id, objs in objects.items():
        write_image(root / "JPEGImages" / f"{image_id}.jpg")
        (root / "Annotations" / f"{image_id}.xml").write_text(annotation_xml(image_id, objs))
    split = root / "ImageSets" / "Main" / "test.txt"
    split.parent.mkdir(parents=True)
    split.write_text("".join(f"{i}\n" for i in (listed or objects)))
    return root


MASK = np.full((6, 8), 255, dtype=np.uint8)   # 255 border, as VOC draws around objects
MASK[1:5, 1:7] = 0
MASK[2:4, 2:4] = 15                            # person
MASK[2:4, 5:6] = 12                            # dog


def write_mask(path, mask=MASK):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.tobytes())
    image.putpalette(voc_palette())
    image.save(path)


def voc2012(root, ids=("2007_000032", "2007_000033"), listed=None):
    for image_id in ids:
        write_image(root / "JPEGImages" / f"{image_id}.jpg", size=(8, 6))
        write_mask(root / "SegmentationClass" / f"{image_id}.png")
    split = root / "ImageSets" / "Segmentation" / "val.txt"
    split.parent.mkdir(parents=True)
    split.write_text("".join(f"{i}\n" for i in (listed or ids)))
    return root


def test_class_order_is_the_devkit_order():
    assert len(VOC_CLASSES) == 20 and VOC_CLASSES[0] == "aeroplane" and VOC_CLASSES[-1] == "tvmonitor"
    assert VOC_CLASSES.index("dog") == 11 and VOC_CLASSES.index("person") == 14


def test_annotation_parsing_keeps_xml_coordinates_labels_and_difficult(tmp_path):
    voc2007(tmp_path)
    assert read_annotation(tmp_path / "Annotations" / "000001.xml") == [
        VocObject("dog", 11, (48.0, 240.0, 195.0, 371.0), False),
        VocObject("person", 14, (8.0, 12.0, 352.0, 498.0), True),
    ]
    tv, plane = read_annotation(tmp_path / "Annotations" / "000002.xml")
    assert tv == VocObject("tvmonitor", 19, (1.0, 1.0, 60.5, 40.0), False)  # no <difficult> tag: not difficult
    assert plane.label == 0
    boxes, labels, difficult = objects_as_arrays([tv, plane])
    assert boxes.shape == (2, 4) and labels.tolist() == [19, 0] and difficult.tolist() == [False, False]


def test_unknown_class_names_the_file(tmp_path):
    voc2007(tmp_path, {"000003": [("cat", 1, 1, 5, 5, "0"), ("unicorn", 1, 1, 5, 5, "0")]})
    with pytest.raises(DatasetError, match=r"000003\.xml: 'unicorn' is not one of the 20 VOC classes"):
        read_annotation(tmp_path / "Annotations" / "000003.xml")


def test_detection_items_are_rgb_images_with_their_objects(tmp_path):
    dataset = VocDetection(voc2007(tmp_path))
    assert len(dataset) == 2 and dataset.image_ids == ["000001", "000002"]
    image, objects = dataset[0]
    assert image.mode == "RGB" and image.size == (64, 48)
    assert [o.name for o in objects] == ["dog", "person"]


def test_partial_detection_tree_reports_counts_and_missing_paths(tmp_path):
    voc2007(tmp_path, listed=["000001", "000002", "000004", "000005"])
    (tmp_path / "Annotations" / "000002.xml").unlink()
    with pytest.raises(DatasetError) as error:
        VocDetection(tmp_path)
    message = str(error.value)
    assert "partial VOC tree: ImageSets/Main/test.txt lists 4 ids, 3 of them lack files (5 missing files" in message
    assert str(tmp_path / "Annotations" / "000002.xml") in message and "extract the complete VOC tar" in message


def test_missing_split_file_names_the_expected_root(tmp_path):
    with pytest.raises(DatasetError, match=r"test\.txt: split file missing; root must be a VOCdevkit/VOC20xx"):
        VocDetection(tmp_path)


def test_segmentation_masks_are_palette_indices_with_255_borders(tmp_path):
    dataset = VocSegmentation(voc2012(tmp_path))
    image, mask = dataset[1]
    assert image.mode == "RGB" and image.size == (8, 6)
    assert mask.dtype == np.uint8 and mask.shape == (6, 8)
    assert (mask == MASK).all() and sorted(np.unique(mask).tolist()) == [0, 12, 15, 255]
    rendered = np.array(Image.open(tmp_path / "SegmentationClass" / "2007_000032.png").convert("RGB"))
    assert rendered[2, 2].tolist() == [192, 128, 128]  # person's colour: reading RGB would not give 15


def test_a_colour_converted_mask_is_refused(tmp_path):
    voc2012(tmp_path)
    path = tmp_path / "SegmentationClass" / "2007_000033.png"
    Image.open(path).convert("RGB").save(path)
    with pytest.raises(DatasetError, match=r"2007_000033\.png: mode RGB, expected a palette \(P\) PNG"):
        VocSegmentation(tmp_path)[1]


def test_partial_segmentation_tree_reports_counts_and_missing_paths(tmp_path):
    voc2012(tmp_path, listed=["2007_000032", "2007_000033", "2007_000039"])
    (tmp_path / "SegmentationClass" / "2007_000033.png").unlink()
    with pytest.raises(DatasetError, match=r"Segmentation/val\.txt lists 3 ids, 2 of them lack files \(3 missing files, "
                                           r"first: .*2007_000033\.png, .*2007_000039\.jpg"):
        VocSegmentation(tmp_path)
