"""PoseNet's multi-person decoding (zoo.families.pose.posenet) on hand-made output grids, and the hand-labelled pose
views it is scored on (zoo.data.embedded.pose_photos)."""
from __future__ import annotations

import json

import numpy as np

from zoo.data.embedded import pose_photos
from zoo.data.embedded.photos import View
from zoo.families.pose import posenet

GRID = 25
LOGIT_HIGH, LOGIT_LOW = 4.0, -6.0  # sigmoid 0.982, 0.0025


def grids():
    heatmap = np.full((GRID, GRID, 17), LOGIT_LOW, np.float32)
    offsets = np.zeros((GRID, GRID, 34), np.float32)
    forward = np.zeros((GRID, GRID, 32), np.float32)
    backward = np.zeros((GRID, GRID, 32), np.float32)
    return heatmap, offsets, forward, backward


def test_a_root_grows_along_the_displacements_and_is_refined_by_offsets():
    heatmap, offsets, forward, backward = grids()
    heatmap[5, 5, 0] = LOGIT_HIGH  # the nose: the only root over the threshold
    offsets[5, 5, 0], offsets[5, 5, 17] = 1.0, -2.0
    forward[5, 5, 0], forward[5, 5, 16] = 16.0, 32.0  # edge 0 (nose -> left eye): one cell down, two right
    offsets[6, 7, 1], offsets[6, 7, 18] = 2.0, -3.0  # the left eye's offset where the displacement lands
    heatmap[6, 7, 1] = 0.0  # its score: sigmoid(0) = 0.5
    poses, scores, pose_scores = posenet.decode_multiple_poses(heatmap, offsets, forward, backward)
    assert len(poses) == 1
    np.testing.assert_allclose(poses[0][0], [5 * 16 + 1, 5 * 16 - 2])
    np.testing.assert_allclose(poses[0][1], [6 * 16 + 2, 7 * 16 - 3])
    assert scores[0][1] == 0.5 and np.isclose(scores[0][0], 1 / (1 + np.exp(-LOGIT_HIGH)))
    assert np.isclose(pose_scores[0], scores[0].sum() / 17)


def test_a_second_root_on_a_keypoint_already_taken_is_suppressed_and_a_far_one_is_a_new_person():
    heatmap, offsets, forward, backward = grids()
    heatmap[5, 5, :] = LOGIT_HIGH  # every keypoint of one person at one cell (no displacement)
    heatmap[20, 20, 0] = LOGIT_HIGH - 1  # another nose, far away
    poses, _, pose_scores = posenet.decode_multiple_poses(heatmap, offsets, forward, backward)
    assert len(poses) == 2 and pose_scores[0] > pose_scores[1]
    np.testing.assert_allclose(poses[1], np.full((17, 2), 320.0))  # no displacement: every keypoint on its nose
    sigmoid = lambda logit: 1 / (1 + np.exp(-logit))  # noqa: E731
    assert np.isclose(pose_scores[1], (sigmoid(LOGIT_HIGH - 1) + 16 * sigmoid(LOGIT_LOW)) / 17)


def test_keypoints_within_the_nms_radius_of_an_earlier_pose_do_not_count_for_a_later_one():
    heatmap, offsets, forward, backward = grids()
    heatmap[5, 5, :] = LOGIT_HIGH
    heatmap[5, 7, 3] = LOGIT_HIGH - 1  # a left ear 32 px from person one's: a root of its own (NMS radius 20)
    backward[5, 7, 16 + 1] = -32.0  # edge 1 (left eye -> left ear) back to person one's eye, where the rest grows
    poses, _, pose_scores = posenet.decode_multiple_poses(heatmap, offsets, forward, backward)
    assert len(poses) == 2
    np.testing.assert_allclose(poses[1][1], [80, 80])
    sigmoid = 1 / (1 + np.exp(-(LOGIT_HIGH - 1)))
    assert np.isclose(pose_scores[1], sigmoid / 17)  # only its ear is not within 20 px of person one's keypoints


def test_decoded_points_go_back_through_the_letterbox():
    height, width = 300, 600  # scale 385/600, 193 rows of image centred at dy = 96
    scale, _, _, dx, dy = posenet.letterbox(height, width, posenet.SIZE)
    points = np.array([[dy + 10 * scale, dx + 20 * scale]])
    np.testing.assert_allclose(posenet.to_image(points, height, width), [[20, 10]])


def test_the_whole_photo_keeps_the_labels_and_mirroring_swaps_left_and_right():
    photo = pose_photos.photos()[0]
    height, width = pose_photos.pixels(0).shape[:2]
    labels = np.array(photo["people"][0]["keypoints"], dtype=np.float64)
    whole = pose_photos.view_keypoints(labels, View(0, (0, 0, width, height), False))
    np.testing.assert_array_equal(whole, labels)
    mirrored = pose_photos.view_keypoints(labels, View(0, (0, 0, width, height), True))
    left_eye, right_eye = labels[1], labels[2]
    np.testing.assert_array_equal(mirrored[2], [width - 1 - left_eye[0], left_eye[1], left_eye[2]])
    np.testing.assert_array_equal(mirrored[1], [width - 1 - right_eye[0], right_eye[1], right_eye[2]])


def test_a_crop_drops_the_keypoints_outside_it_and_unlabelled_people_have_boxes_only():
    voc = next(i for i, p in enumerate(pose_photos.photos()) if p["unlabelled_people"])
    annotations = pose_photos.view_annotations(View(voc, (170, 0, 500, 375), False), 1, 1)
    labelled = [a for a in annotations if a["num_keypoints"] > 0]
    assert len(labelled) == 2  # the person at the left edge (x < 160) is outside, the other two inside
    boxes_only = [a for a in annotations if a["num_keypoints"] == 0]
    assert boxes_only and all(not any(a["keypoints"]) for a in boxes_only)
    assert all(a["bbox"][0] >= 0 and a["bbox"][0] + a["bbox"][2] <= 330 for a in annotations)


def test_the_fixture_labels_are_coco_keypoints_inside_their_boxes():
    data = json.loads(pose_photos.FIXTURE.read_text())
    for photo in data["photos"]:
        for person in photo["people"]:
            points = np.array(person["keypoints"])
            x, y, w, h = person["box"]
            assert points.shape == (17, 3) and set(points[:, 2]) <= {0, 1, 2}
            labelled = points[points[:, 2] > 0]
            assert len(labelled) >= 3, person["id"]
            assert np.all((labelled[:, 0] >= x) & (labelled[:, 0] <= x + w) & (labelled[:, 1] >= y)
                          & (labelled[:, 1] <= y + h)), person["id"]


def test_views_are_seeded_and_scored_as_coco_images():
    first, second = pose_photos.PosePhotoViews(posenet.preprocess), pose_photos.PosePhotoViews(lambda image: image)
    assert first.fingerprint() == second.fingerprint() and len(first) == 48
    image, target = second[17]
    assert (target.width, target.height) == image.size
    assert first[0][0].shape == (3, posenet.SIZE, posenet.SIZE)
