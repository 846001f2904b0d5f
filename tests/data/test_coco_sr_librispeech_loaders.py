"""COCO keypoints, Set5/Set14/BSD100 and LibriSpeech loaders on tiny trees in the real layouts; MATLAB bicubic."""
import json
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.data.real.coco import CocoImage, CocoImageSet
from zoo.data.base import DatasetError
from zoo.data.real.librispeech import LibriSpeech, read_audio
from zoo.data.real.super_resolution import SuperResolutionSet, imresize_matlab, modcrop, resize_weights
from zoo.families.pose import torch as pose


def write_image(path, width, height, value=90, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = (height, width, 3) if mode == "RGB" else (height, width)
    Image.fromarray(np.full(channels, value, dtype=np.uint8), mode).save(path)


# ----------------------------------------------------------------------------- COCO keypoints

# (id, file name, width, height); 139 has no person, as many val images
COCO_IMAGES = [(785, "000000000785.jpg", 64, 48), (139, "000000000139.jpg", 40, 56), (872, "000000000872.jpg", 50, 50)]


def coco_tree(root, split="val2017", image_folder=None, images=COCO_IMAGES):
    folder = root / (image_folder or split)
    for _, name, width, height in images:
        write_image(folder / name, width, height)
    annotations = [{"id": 1, "image_id": 785, "category_id": 1, "iscrowd": 0, "area": 100.0, "bbox": [1, 1, 10, 10],
                    "num_keypoints": 1, "keypoints": [5, 5, 2] + [0] * 48}]
    gt = {"images": [{"id": i, "file_name": n, "width": w, "height": h} for i, n, w, h in images],
          "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / f"person_keypoints_{split}.json").write_text(json.dumps(gt))
    return root


def test_coco_keypoints_full_tree(tmp_path):
    data = CocoImageSet(coco_tree(tmp_path), pose.preprocess)
    assert len(data) == 3
    assert data.image_ids() == [139, 785, 872]  # every listed image, sorted by id
    assert data.sample_ids() == ["000000000139.jpg", "000000000785.jpg", "000000000872.jpg"]
    assert data.ground_truth == tmp_path / "annotations" / "person_keypoints_val2017.json"
    x, target = data[1]
    assert target == CocoImage(785, "000000000785.jpg", 48, 64)
    assert x.shape == (3, 384, 496)  # landscape
    assert data[0][0].shape == (3, 496, 384) and data[2][0].shape == (3, 496, 384)
    assert len(data.calibration_images(2, seed=0)) == 2 and len(data.calibration_images(10, seed=0)) == 3


def test_coco_keypoints_aimet_layout_and_fingerprint(tmp_path):
    data = CocoImageSet(coco_tree(tmp_path, "val2014", "images/val2014"), pose.preprocess, split="val2014")
    assert data.image_dir == tmp_path / "images" / "val2014" and len(data) == 3
    before = data.fingerprint()
    assert before == CocoImageSet(tmp_path, pose.preprocess, split="val2014").fingerprint()
    changed = data.image_dir / "000000000872.jpg"
    changed.write_bytes(changed.read_bytes() + b"\0")  # same name, another size
    assert CocoImageSet(tmp_path, pose.preprocess, split="val2014").fingerprint() != before


def test_coco_keypoints_partial_tree(tmp_path):
    coco_tree(tmp_path)
    (tmp_path / "val2017" / "000000000785.jpg").unlink()
    with pytest.raises(DatasetError, match=r"lists 3 images, found 2 \(missing 1, first: 000000000785.jpg\)"):
        CocoImageSet(tmp_path, pose.preprocess)


def test_coco_keypoints_missing_annotations_or_images(tmp_path):
    with pytest.raises(DatasetError, match="person_keypoints_val2017.json: COCO annotations missing"):
        CocoImageSet(tmp_path, pose.preprocess)
    coco_tree(tmp_path)
    annotations = tmp_path / "annotations"
    (annotations / "person_keypoints_val2014.json").write_text((annotations / "person_keypoints_val2017.json").read_text())
    with pytest.raises(DatasetError, match="no image folder .*val2014 or .*images/val2014"):
        CocoImageSet(tmp_path, pose.preprocess, split="val2014")
    (annotations / "person_keypoints_val2017.json").write_text('{"images": []}')
    with pytest.raises(DatasetError, match="lacks 'images' or 'annotations'"):
        CocoImageSet(tmp_path, pose.preprocess)


# ----------------------------------------------------------------------------- super-resolution

def srf_tree(root, count=5, size=(22, 18), with_lr=True):
    """SelfExSR layout: image_SRF_4/img_00N_SRF_4_HR.png (+ _LR.png), HR of ``size`` (not a multiple of 4)."""
    for n in range(1, count + 1):
        write_image(root / "image_SRF_4" / f"img_{n:03d}_SRF_4_HR.png", *size, value=20 * n % 256)
        if with_lr:
            write_image(root / "image_SRF_4" / f"img_{n:03d}_SRF_4_LR.png", size[0] // 4, size[1] // 4, value=20 * n % 256)
    return root


def test_super_resolution_srf_layout(tmp_path):
    data = SuperResolutionSet(srf_tree(tmp_path / "Set5"))
    assert len(data) == 5 and data.benchmark == "Set5" and data.layout == "image_SRF_4"
    assert data.sample_ids()[0] == "image_SRF_4/img_001_SRF_4_HR.png"
    lr, hr = data[2]
    assert hr.shape == (16, 20, 3) and hr.dtype == np.uint8 and (hr == 60).all()  # modcrop to multiples of 4
    assert lr.shape == (3, 4, 5) and lr.dtype == torch.float32
    assert torch.allclose(lr, torch.full((3, 4, 5), 60 / 255))  # a constant image stays constant
    files = SuperResolutionSet(tmp_path / "Set5", lr_source="files")
    assert torch.equal(files[2][0], torch.full((3, 4, 5), 60 / 255))
    assert files.fingerprint() != data.fingerprint()
    assert len(data.calibration_images(3, seed=1)) == 3


def test_super_resolution_hr_and_flat_layouts(tmp_path):
    for n in range(14):
        write_image(tmp_path / "Set14" / "HR" / f"{n}.png", 13, 9, mode="L" if n % 2 else "RGB")
    data = SuperResolutionSet(tmp_path / "Set14")
    assert data.layout == "HR" and len(data) == 14
    lr, hr = data[1]
    assert hr.shape == (8, 12, 3) and lr.shape == (3, 2, 3)  # grey replicated to RGB
    for n in range(100):
        write_image(tmp_path / "benchmarks" / f"{n:03d}.png", 8, 8)
    assert SuperResolutionSet(tmp_path / "benchmarks", benchmark="BSD100").layout == "flat"


def test_super_resolution_partial_and_unknown_trees(tmp_path):
    srf_tree(tmp_path / "BSD100_SR", count=99)
    with pytest.raises(DatasetError, match=r"partial BSD100 tree \(image_SRF_4 layout\): expected 100 HR images, found 99"):
        SuperResolutionSet(tmp_path / "BSD100_SR")
    srf_tree(tmp_path / "Set5", with_lr=False)
    assert len(SuperResolutionSet(tmp_path / "Set5")) == 5
    with pytest.raises(DatasetError, match=r"needs an \*_LR partner for each of the 5 HR images .*found 0"):
        SuperResolutionSet(tmp_path / "Set5", lr_source="files")
    with pytest.raises(DatasetError, match="cannot tell which benchmark 'mine'"):
        SuperResolutionSet(srf_tree(tmp_path / "mine"))
    with pytest.raises(ValueError, match="lr_source='nearest'"):
        SuperResolutionSet(tmp_path / "Set5", lr_source="nearest")


def test_matlab_bicubic_known_answers():
    constant = np.full((23, 18, 3), 0.3)
    small = imresize_matlab(constant, 1 / 4)
    assert small.shape == (6, 5, 3) and np.allclose(small, 0.3)  # ceil(23 / 4) x ceil(18 / 4)
    # a horizontal ramp: the antialiased kernel is symmetric about each LR pixel's centre, so away from
    # the borders LR pixel j (0-based) is the mean of HR pixels 4j..4j+3, i.e. 4j + 1.5
    ramp = np.tile(np.arange(64, dtype=np.float64)[None, :, None], (8, 1, 1))
    row = imresize_matlab(ramp, 1 / 4)[0, :, 0]
    assert np.allclose(row[2:-2], 4 * np.arange(2, 14) + 1.5, atol=1e-5)
    flipped = imresize_matlab(ramp[:, ::-1], 1 / 4)[0, :, 0]  # both borders padded the same way
    assert np.allclose(flipped, row[::-1], atol=1e-5) and not np.isclose(row[0], 1.5)
    weights = resize_weights(64, 16, 1 / 4)
    assert np.allclose(weights.sum(1), 1) and np.count_nonzero(weights[8]) == 16  # kernel 4 / (1/4) = 16 taps wide
    assert np.allclose(weights[8, 34:42], weights[8, 33:25:-1])  # symmetric about LR pixel 8's centre, 4 * 8 + 1.5


def test_modcrop():
    assert modcrop(np.zeros((18, 22, 3)), 4).shape == (16, 20, 3)
    assert modcrop(np.zeros((16, 20, 3)), 4).shape == (16, 20, 3)


# ----------------------------------------------------------------------------- LibriSpeech

LIBRI = {  # speaker/chapter -> {utterance suffix: transcript}
    ("1089", "134686"): {"0000": "HE HOPED THERE WOULD BE STEW FOR DINNER",
                         "0001": "STUFF IT INTO YOU HIS BELLY COUNSELLED HIM"},
    ("121", "121726"): {"0000": "ALSO A POPULAR CONTRIVANCE",
                        "0001": "HARANGUE THE TIRESOME PRODUCT OF A TIRELESS TONGUE"},
}


def libri_tree(root, split="test-clean", chapters=LIBRI):
    for (speaker, chapter), lines in chapters.items():
        folder = root / "LibriSpeech" / split / speaker / chapter
        folder.mkdir(parents=True)
        (folder / f"{speaker}-{chapter}.trans.txt").write_text(
            "".join(f"{speaker}-{chapter}-{n} {text}\n" for n, text in lines.items()))
        for n in lines:
            (folder / f"{speaker}-{chapter}-{n}.flac").write_bytes(b"fLaC" + bytes(int(n) + 8))
    return root / "LibriSpeech"


def test_librispeech_full_tree(tmp_path, monkeypatch):
    root = libri_tree(tmp_path)
    data = LibriSpeech(root, preprocess=lambda samples: torch.tensor([len(samples)]), expected_utterances=4)
    assert len(data) == 4
    assert data.sample_ids() == ["1089-134686-0000", "1089-134686-0001", "121-121726-0000", "121-121726-0001"]
    assert data.transcripts()[3] == "HARANGUE THE TIRESOME PRODUCT OF A TIRELESS TONGUE"
    assert LibriSpeech(root / "test-clean", preprocess=None, expected_utterances=4).sample_ids() == data.sample_ids()
    seen = []
    monkeypatch.setattr("zoo.data.real.librispeech.read_audio", lambda path: seen.append(path.name) or np.zeros(160))
    x, reference = data[1]
    assert seen == ["1089-134686-0001.flac"] and x.tolist() == [160]
    assert reference == "STUFF IT INTO YOU HIS BELLY COUNSELLED HIM"
    assert len(data.calibration_images(2, seed=0)) == 2
    assert data.fingerprint() == LibriSpeech(root, None, expected_utterances=4).fingerprint()


def test_librispeech_partial_trees(tmp_path):
    root = libri_tree(tmp_path)
    with pytest.raises(DatasetError, match="expected 2620 utterances, found 4"):  # test-clean's size by default
        LibriSpeech(root, preprocess=None)
    (root / "test-clean" / "121" / "121726" / "121-121726-0001.flac").unlink()
    with pytest.raises(DatasetError, match=r"4 transcript lines, 3 FLAC files, 1 lines without audio "
                                           r"\(first: \['121-121726-0001'\]\), 0 FLACs without a line"):
        LibriSpeech(root, preprocess=None, expected_utterances=4)
    with pytest.raises(DatasetError, match="no LibriSpeech test-other folder"):
        LibriSpeech(root, preprocess=None, split="test-other")


def fake_soundfile(samples, rate):
    module = types.ModuleType("soundfile")
    module.read = lambda path, dtype: (np.asarray(samples, dtype=dtype), rate)
    return module


def test_read_audio_scales_int16_and_averages_channels(monkeypatch, tmp_path):
    stereo = np.array([[32767, -32767], [16384, 0], [-32768, -32768]])
    monkeypatch.setitem(sys.modules, "soundfile", fake_soundfile(stereo, 16000))
    samples = read_audio(tmp_path / "a.flac")
    assert samples.dtype == np.float32
    assert np.allclose(samples, [0.0, 16384 / 32767 / 2, -32768 / 32767])
    monkeypatch.setitem(sys.modules, "soundfile", fake_soundfile(stereo[:, 0], 8000))
    with pytest.raises(DatasetError, match="8000 Hz audio"):
        read_audio(tmp_path / "a.flac")
    monkeypatch.setitem(sys.modules, "soundfile", None)  # import fails, as without the package
    with pytest.raises(DatasetError, match="pip install soundfile"):
        read_audio(tmp_path / "a.flac")
