"""Pose (COCO keypoint AP/AR), super-resolution (PSNR/SSIM on Y) and speech (WER, CTC) metrics on known answers."""
import copy
import json
import math

import numpy as np
import pytest

from zoo.metrics.image_quality import psnr_y, rgb_to_y, ssim_y
from zoo.metrics.keypoints import KEYPOINT_STATS, coco_keypoint_stats
from zoo.metrics.speech import (
    DEEPSPEECH_BLANK_INDEX, DEEPSPEECH_LABELS, corpus_wer, greedy_ctc_decode, normalize_transcript,
    word_edit_distance,
)

# --- keypoints -------------------------------------------------------------------------------


def _person(ann_id: int, image_id: int, x0: float, y0: float, size: float) -> dict:
    keypoints = []
    for k in range(17):
        keypoints += [x0 + size * (k % 4 + 1) / 5, y0 + size * (k // 4 + 1) / 6, 2]
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
            "keypoints": keypoints, "bbox": [x0, y0, size, size], "area": size * size}


# image 1: two large persons (area 10000 > 96^2); image 2: one medium person (area 2500)
GT = {
    "images": [{"id": 1, "width": 400, "height": 300}, {"id": 2, "width": 400, "height": 300}],
    "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    "annotations": [_person(1, 1, 10, 10, 100), _person(2, 1, 200, 50, 100), _person(3, 2, 30, 40, 50)],
}


def _results(annotations, shift: float = 0.0) -> list[dict]:
    results = []
    for ann in annotations:
        kps = list(ann["keypoints"])
        kps[0::3] = [x + shift for x in kps[0::3]]
        results.append({"image_id": ann["image_id"], "category_id": 1, "keypoints": kps, "score": 0.9})
    return results


def test_keypoints_perfect_results_score_one():
    stats = coco_keypoint_stats(GT, _results(GT["annotations"]))
    assert tuple(stats) == KEYPOINT_STATS
    assert stats == pytest.approx({name: 1.0 for name in KEYPOINT_STATS})  # COCOeval's tp / (tp + fp + eps)


def test_keypoints_shifted_results_lose_ap():
    stats = coco_keypoint_stats(GT, _results(GT["annotations"], shift=6.0))
    assert 0.0 < stats["ap"] < 1.0 and stats["ar"] < 1.0
    assert stats["ap50"] == pytest.approx(1.0)  # a 6 px shift still passes OKS 0.5 on every person


def test_keypoints_missing_detection_lowers_recall():
    stats = coco_keypoint_stats(GT, _results(GT["annotations"][1:]))  # first large person undetected
    assert stats["ar"] == pytest.approx(2 / 3)
    assert stats["ar_large"] == pytest.approx(0.5)
    assert stats["ar_medium"] == 1.0


def test_keypoints_image_restriction_and_minus_one_for_empty_area():
    stats = coco_keypoint_stats(GT, _results(GT["annotations"], shift=30.0)[:2] + _results(GT["annotations"][2:]),
                                image_ids=[2])
    assert stats["ap"] == pytest.approx(1.0)  # image 1's poor detections are not evaluated
    assert stats["ap_large"] == -1.0 and stats["ar_large"] == -1.0  # no large person in image 2


def test_keypoints_empty_results_give_zero_not_a_crash():
    stats = coco_keypoint_stats(GT, [])
    assert stats["ap"] == 0.0 and stats["ar"] == 0.0
    assert coco_keypoint_stats(GT, [], image_ids=[2])["ap_large"] == -1.0


def test_keypoints_from_file_leave_inputs_untouched(tmp_path, capsys):
    path = tmp_path / "person_keypoints_val2017.json"
    path.write_text(json.dumps(GT))
    gt_before, results = copy.deepcopy(GT), _results(GT["annotations"])
    results_before = copy.deepcopy(results)
    assert coco_keypoint_stats(path, results) == coco_keypoint_stats(str(path), results)
    assert coco_keypoint_stats(GT, results) == coco_keypoint_stats(path, results) == pytest.approx(
        {name: 1.0 for name in KEYPOINT_STATS})
    assert GT == gt_before and results == results_before
    assert capsys.readouterr().out == ""


def test_keypoints_bad_inputs_are_named():
    bad = _results(GT["annotations"][:1])
    bad[0]["keypoints"] = bad[0]["keypoints"][:-3]
    with pytest.raises(ValueError, match="has 48 keypoint values; expected 51"):
        coco_keypoint_stats(GT, bad)
    stray = _results(GT["annotations"][:1])
    stray[0]["image_id"] = 7
    with pytest.raises(ValueError, match=r"image ids not in the ground truth: \[7\]"):
        coco_keypoint_stats(GT, stray)
    with pytest.raises(ValueError, match=r"image ids not in the ground truth: \[9\]"):
        coco_keypoint_stats(GT, [], image_ids=[2, 9])


# --- PSNR / SSIM -----------------------------------------------------------------------------


def _gray(level: int, size: int = 24) -> np.ndarray:
    return np.full((size, size, 3), level, dtype=np.uint8)


def test_rgb_to_y_known_values():
    assert rgb_to_y(_gray(0, 1))[0, 0] == pytest.approx(16.0)
    assert rgb_to_y(_gray(255, 1))[0, 0] == pytest.approx(235.0)
    assert rgb_to_y(np.ones((1, 1, 3)))[0, 0] == pytest.approx(235.0)  # float input is [0, 1]
    assert rgb_to_y(np.array([[[1.0, 0.0, 0.0]]]))[0, 0] == pytest.approx(16 + 65.481)


def test_rgb_to_y_rejects_out_of_range_float_and_grayscale():
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        rgb_to_y(np.full((2, 2, 3), 255.0))
    with pytest.raises(ValueError, match=r"HxWx3 RGB image, got shape \(2, 2\)"):
        rgb_to_y(np.zeros((2, 2), dtype=np.uint8))


def test_identical_images():
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert math.isinf(psnr_y(image, image, shave=4))
    assert ssim_y(image, image, shave=4) == pytest.approx(1.0)


def test_constant_offset_known_answers():
    # gray levels 100 and 105 differ on Y by 5 * 219 / 255 (the three weights sum to 219)
    y_a, y_b = 16 + 219 * 100 / 255, 16 + 219 * 105 / 255
    assert psnr_y(_gray(105), _gray(100), shave=2) == pytest.approx(10 * math.log10(255**2 / (y_b - y_a) ** 2))
    c1 = (0.01 * 255) ** 2  # constant images: SSIM reduces to the luminance term
    assert ssim_y(_gray(105), _gray(100), shave=2) == pytest.approx((2 * y_a * y_b + c1) / (y_a**2 + y_b**2 + c1))


def test_shave_ignores_the_border():
    hr = _gray(120, 32)
    sr = hr.copy()
    sr[:3] = 0
    sr[:, -3:] = 255
    assert math.isinf(psnr_y(sr, hr, shave=3)) and ssim_y(sr, hr, shave=3) == pytest.approx(1.0)
    assert psnr_y(sr, hr, shave=2) < 20 and ssim_y(sr, hr, shave=2) < 1.0


def test_ssim_window_is_11x11():
    ok, small = _gray(100, 15), _gray(100, 14)  # 11 and 10 pixels after shaving 2
    assert ssim_y(ok, ok, shave=2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="win_size"):
        ssim_y(small, small, shave=2)


def test_shape_mismatch_and_excessive_shave():
    with pytest.raises(ValueError, match=r"\(24, 24, 3\) differs from HR image shape \(25, 25, 3\)"):
        psnr_y(_gray(0), _gray(0, 25), shave=2)
    with pytest.raises(ValueError, match="shave=12 leaves nothing of a 24x24 image"):
        ssim_y(_gray(0), _gray(0), shave=12)


# --- speech ----------------------------------------------------------------------------------


@pytest.mark.parametrize("ref, hyp, distance", [
    ("THE CAT SAT", "THE CAT SAT", 0),
    ("THE CAT SAT", "THE BAT SAT", 1),          # substitution
    ("THE CAT SAT", "THE CAT SAT DOWN", 1),     # insertion
    ("THE CAT SAT", "CAT SAT", 1),              # deletion
    ("THE CAT SAT", "", 3),
    ("", "A B", 2),
    ("A B C D", "B C D E", 2),                  # delete A, insert E
    ("A B C", "C B A", 2),                      # two substitutions
])
def test_word_edit_distance(ref, hyp, distance):
    assert word_edit_distance(ref.split(), hyp.split()) == distance


def test_corpus_wer_is_total_edits_over_total_words():
    refs = ["HELLO", "A B C D E F G H I"]  # 1 + 9 reference words
    hyps = ["HULLO", "A B C D E F G H I"]  # 1 edit; mean of per-utterance WERs would be 50 %
    assert corpus_wer(refs, hyps) == pytest.approx(10.0)
    assert corpus_wer(["A B"], ["A B C D"]) == pytest.approx(100.0)  # insertions can exceed the word count


def test_corpus_wer_errors():
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        corpus_wer(["A", "B"], ["A"])
    with pytest.raises(ValueError, match="no words"):
        corpus_wer([""], ["A"])


def test_normalize_transcript():
    assert normalize_transcript("  Hello,\tworld!\nIt's  me-too 2 ") == "HELLO WORLD IT'S ME TOO"


def test_deepspeech_labels():
    assert DEEPSPEECH_LABELS[DEEPSPEECH_BLANK_INDEX] == "_" and len(DEEPSPEECH_LABELS) == 29
    assert DEEPSPEECH_LABELS[2] == "A" and DEEPSPEECH_LABELS[28] == " "


def test_greedy_ctc_decode():
    index = {c: i for i, c in enumerate(DEEPSPEECH_LABELS)}
    frames = "HHE_LL_LOO_ _AA"  # the blank keeps the double L; 'AA' without a blank collapses
    argmax = np.array([index[c] for c in frames])
    assert greedy_ctc_decode(argmax, DEEPSPEECH_LABELS, DEEPSPEECH_BLANK_INDEX) == "HELLO A"
    logits = np.eye(len(DEEPSPEECH_LABELS))[argmax] * 5.0 - 1.0
    assert greedy_ctc_decode(logits, DEEPSPEECH_LABELS, DEEPSPEECH_BLANK_INDEX) == "HELLO A"
    with pytest.raises(ValueError, match="scores have 28 classes but there are 29 labels"):
        greedy_ctc_decode(logits[:, :28], DEEPSPEECH_LABELS, DEEPSPEECH_BLANK_INDEX)
