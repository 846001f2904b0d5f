"""Embedded pose: the synthetic COCO keypoints set is exact and deterministic, the committed tiny model loads
strictly, and it scores on the held-out split what fixtures/pose/models.json records."""
import json

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from zoo.checkpoints import CheckpointError, load_state_dict, sha256_of
from zoo.data.real.coco import CocoImageSet, annotation_path
from zoo.data.synthetic.pose import (EVAL_IMAGES, IMAGE_SIZE, KEYPOINT_NAMES, SKELETON, SPLIT, SyntheticPoseSet,
                                         build_split, generate, main, render, tree_digest)
from zoo.metrics.keypoints import coco_keypoint_stats
from zoo.families.pose.tiny import (CHECKPOINT, HEATMAP_SIZE, TinyPoseNet, build_pose_tiny, decode, heatmap_peaks,
                                  heatmap_targets, people_per_image, preprocess)

MANIFEST = CHECKPOINT.parent / "models.json"
SEED, IMAGES = 3, 6
STAT_TOLERANCE = 0.01  # the recorded stats come from the training machine; another CPU's kernels may move a peak


@pytest.fixture(scope="module")
def manifest():
    return json.loads(MANIFEST.read_text())["pose_tiny"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic_pose")
    generate(root, IMAGES, SEED)
    return root


@pytest.fixture(scope="module")
def held_out():
    return SyntheticPoseSet(preprocess)


def keypoints_of(annotation) -> np.ndarray:
    return np.array(annotation["keypoints"], dtype=np.float64).reshape(len(KEYPOINT_NAMES), 3)


# ---- weights --------------------------------------------------------------------------------------------------------

def test_committed_weights_match_their_sha256_and_load_strictly(manifest):
    assert sha256_of(CHECKPOINT) == manifest["sha256"]
    assert CHECKPOINT.stat().st_size == manifest["bytes"] <= 2 * 2**20
    model = build_pose_tiny(CHECKPOINT)
    saved = load_state_dict(CHECKPOINT)
    assert list(saved) == list(TinyPoseNet().state_dict())
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    assert tuple(model.eval()(torch.zeros(manifest["input_shape"])).shape) == tuple(manifest["output_shape"])


def test_a_checkpoint_missing_a_layer_is_refused_with_its_name(tmp_path):
    state = TinyPoseNet().state_dict()
    del state["final_layer.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match=r"broken.pth: .*missing \['final_layer.weight'\]"):
        build_pose_tiny(tmp_path / "broken.pth")


# ---- the generator --------------------------------------------------------------------------------------------------

def test_same_seed_gives_the_same_bytes_and_another_seed_other_images(tree, tmp_path):
    generate(tmp_path / "again", IMAGES, SEED)
    generate(tmp_path / "other", IMAGES, SEED + 1)
    assert tree_digest(tmp_path / "again") == tree_digest(tree)
    assert tree_digest(tmp_path / "other") != tree_digest(tree)
    in_memory = build_split(IMAGES, SEED)
    assert json.loads(annotation_path(tree, SPLIT).read_text()) == in_memory.coco
    assert [(tree / "val2017" / i["file_name"]).read_bytes() for i in in_memory.coco["images"]] == \
        list(in_memory.jpegs)


def test_the_real_coco_loader_reads_the_tree_as_the_in_memory_set_serves_it(tree):
    files = CocoImageSet(tree, preprocess)
    in_memory = SyntheticPoseSet(preprocess, IMAGES, SEED)
    assert files.image_ids() == in_memory.image_ids() == list(range(1, IMAGES + 1))
    assert files.sample_ids() == in_memory.sample_ids()
    assert json.loads(files.ground_truth.read_text()) == in_memory.ground_truth
    for i in (0, IMAGES - 1):
        (image, target), (expected_image, expected_target) = files[i], in_memory[i]
        assert target == expected_target and torch.equal(image, expected_image)


def test_pycocotools_reads_the_json_with_the_coco_person_category(tree):
    coco = COCO(str(annotation_path(tree, SPLIT)))
    assert coco.getCatIds() == [1] and sorted(coco.getImgIds()) == list(range(1, IMAGES + 1))
    category = coco.loadCats(1)[0]
    assert category["name"] == "person" and tuple(category["keypoints"]) == KEYPOINT_NAMES
    assert category["keypoints"][:3] == ["nose", "left_eye", "right_eye"] and len(category["skeleton"]) == 19
    assert [tuple(pair) for pair in category["skeleton"]] == list(SKELETON)
    height, width = IMAGE_SIZE
    for image_id in coco.getImgIds():
        image = coco.loadImgs(image_id)[0]
        assert (image["height"], image["width"]) == IMAGE_SIZE
        with Image.open(tree / "val2017" / image["file_name"]) as jpeg:
            assert jpeg.size == (width, height)
        (annotation,) = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        keypoints = keypoints_of(annotation)
        assert annotation["iscrowd"] == 0 and annotation["category_id"] == 1
        assert annotation["num_keypoints"] == int((keypoints[:, 2] > 0).sum()) >= 10
        assert set(keypoints[:, 2]) <= {0, 1, 2} and (keypoints[keypoints[:, 2] == 0, :2] == 0).all()
        mask = coco.annToMask(annotation).astype(bool)
        ys, xs = np.nonzero(mask)
        assert annotation["area"] == mask_utils.area(annotation["segmentation"]) == mask.sum()
        assert annotation["bbox"] == [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]


def test_visible_keypoints_lie_on_the_figure_and_left_is_on_the_image_right():
    for index in range(8):
        sample = render(index, SEED)
        visible = sample.keypoints[sample.keypoints[:, 2] == 2]
        pixels = np.floor(visible[:, :2]).astype(int)
        assert sample.mask[pixels[:, 1], pixels[:, 0]].all(), index
        x = {name: sample.keypoints[i, 0] for i, name in enumerate(KEYPOINT_NAMES)}
        # a figure facing the camera: its left eye and ear are right of its right ones whatever the arms do
        assert x["left_eye"] > x["right_eye"] and x["left_ear"] > x["right_ear"], index


def test_ground_truth_as_results_scores_one_and_a_displaced_keypoint_less(tree):
    gt = json.loads(annotation_path(tree, SPLIT).read_text())
    results = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
               for a in gt["annotations"]]
    assert coco_keypoint_stats(gt, results)["ap"] == 1.0
    results[0] = {**results[0], "keypoints": list(keypoints_of(gt["annotations"][0]).ravel() + [3, 3, 0] * 17)}
    assert coco_keypoint_stats(gt, results)["ap"] < 1.0


def test_generate_refuses_an_existing_split_and_the_cli_writes_one(tree, tmp_path, capsys):
    with pytest.raises(FileExistsError, match=r"val2017 exists; delete it or choose another --out or --split"):
        generate(tree, IMAGES, SEED)
    assert main(["--out", str(tmp_path), "--images", "2", "--seed", "5", "--split", "train2017"]) == 0
    assert "wrote 2 images (128x96, seed 5)" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "train2017").iterdir()) == ["000000000001.jpg", "000000000002.jpg"]
    assert main(["--out", str(tmp_path), "--images", "2", "--split", "train2017"]) == 2
    assert "exists" in capsys.readouterr().err


# ---- decoding and the committed model -------------------------------------------------------------------------------

def test_decoding_gaussian_log_heatmaps_recovers_sub_pixel_keypoints():
    keypoints = np.array([[40.3, 60.7, 2], [9.12, 10.0, 1], [50.0, 100.55, 2]] + [[0, 0, 0]] * 14)
    targets, weights = heatmap_targets(keypoints)
    assert targets.shape == (17, *HEATMAP_SIZE) and weights.tolist() == [1, 1, 1] + [0] * 14
    peaks = heatmap_peaks(np.log(np.maximum(targets, 1e-30))[None])[0]
    np.testing.assert_allclose(peaks[:3, :2], keypoints[:3, :2], atol=1e-6)


def test_decoded_results_are_valid_coco_results(held_out):
    model = build_pose_tiny(CHECKPOINT).eval()
    images = torch.stack([held_out[i][0] for i in range(4)])
    with torch.no_grad():
        logits = model(images)
    results = decode(logits, held_out.image_ids()[:4])
    assert [r["image_id"] for r in results] == held_out.image_ids()[:4]
    for result in results:
        assert result["category_id"] == 1 and len(result["keypoints"]) == 51 and 0 < result["score"] <= 1
        xs, ys = result["keypoints"][0::3], result["keypoints"][1::3]
        assert 0 <= min(xs) and max(xs) <= IMAGE_SIZE[1] and 0 <= min(ys) and max(ys) <= IMAGE_SIZE[0]
    people = people_per_image((logits.numpy(),), [held_out[i][1] for i in range(4)])
    assert [(k.tolist(), s.tolist()) for k, s in people] == [([r["keypoints"]], [r["score"]]) for r in results]


def test_the_committed_model_scores_as_recorded_on_the_held_out_split(held_out, manifest):
    assert len(held_out) == EVAL_IMAGES == manifest["evaluation"]["images"]
    model = build_pose_tiny(CHECKPOINT).eval()
    with torch.no_grad():
        logits = model(torch.stack([held_out[i][0] for i in range(len(held_out))]))
    stats = coco_keypoint_stats(held_out.ground_truth, decode(logits, held_out.image_ids()))
    recorded = manifest["evaluation"]["stats"]
    assert stats == pytest.approx(recorded, abs=STAT_TOLERANCE)
    assert stats["ap"] >= 0.5


def test_the_held_out_set_offers_the_dataset_contract(held_out):
    assert held_out.sample_ids()[:2] == ["000000000001.jpg", "000000000002.jpg"]
    assert held_out.fingerprint() == SyntheticPoseSet(preprocess).fingerprint()
    calibration = held_out.calibration_images(3, seed=0)
    assert len(calibration) == 3 and calibration[0].shape == (3, *IMAGE_SIZE)
    assert all(torch.equal(a, b) for a, b in zip(calibration, held_out.calibration_images(3, seed=0)))
    with pytest.raises(ValueError, match="96x128 \\(WxH\\) images of zoo.data.synthetic.pose, got 100x100"):
        preprocess(Image.new("RGB", (100, 100)))
