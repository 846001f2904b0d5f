"""Embedded human pose: people in photos that ship in dependency wheels, with COCO keypoints labelled by this
project (fixtures/pose_photos/people.json), each photo seen as seeded views.

Views are the photo's seeded crops (the whole photo, then crops keeping 40-100 % of it, half mirrored:
zoo.data.embedded.photos.seeded_views). A view's ground truth, in its own pixels (pixel centres at integers), is
every labelled person with the keypoints inside the crop (mirrored views swap left and right), and every other
person of the photo as a box without keypoints, which COCOeval ignores together with any pose found on it (as
COCO does for people without keypoints). OKS needs each person's area, which COCO takes from the segment: here
FILL of the person's box clipped to the crop, for everyone alike. Calibration uses seeded crops of other photos
(the SR training photos), never these.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache

import numpy as np
from PIL import Image

from zoo import paths
from zoo.data.embedded.coco_views import CocoViews, clipped_box, views_ground_truth
from zoo.data.embedded.photos import View, seeded_views, wheel_file

FIXTURE = paths.FIXTURES / "pose_photos" / "people.json"
VIEWS_PER_PHOTO = 16
SEED = 0
FILL = 0.6
COCO_FLIP = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)  # each keypoint's mirror image
KEYPOINT_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                  "right_knee", "left_ankle", "right_ankle")


@lru_cache(maxsize=1)
def photos() -> tuple[dict, ...]:
    return tuple(json.loads(FIXTURE.read_text())["photos"])


@lru_cache(maxsize=8)
def pixels(index: int) -> np.ndarray:
    photo = photos()[index]
    path = wheel_file(photo["package"], photo["file"], "zoo/data/embedded/pose_photos.py", str(FIXTURE))
    if path.suffix == ".npz":
        with np.load(path) as data:
            return data["rgb"]
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def view_keypoints(keypoints, view: View) -> np.ndarray:
    """[17, 3] keypoints in the view's pixels; those outside the crop become unlabelled (0, 0, 0)."""
    x0, y0, x1, y1 = view.box
    points = np.array(keypoints, dtype=np.float64)
    points[:, :2] -= (x0, y0)
    outside = ((points[:, 0] < 0) | (points[:, 0] > x1 - x0 - 1) | (points[:, 1] < 0) | (points[:, 1] > y1 - y0 - 1)
               | (points[:, 2] == 0))
    points[outside] = 0
    if view.mirrored:
        labelled = points[:, 2] > 0
        points[labelled, 0] = (x1 - x0 - 1) - points[labelled, 0]
        points = points[list(COCO_FLIP)]
    return points


def view_annotations(view: View, image_id: int, first_id: int) -> list[dict]:
    photo = photos()[view.photo]
    people = [(p["box"], view_keypoints(p["keypoints"], view)) for p in photo["people"]]
    people += [(box, np.zeros((17, 3))) for box in photo["unlabelled_people"]]
    annotations = []
    for box, points in people:
        clipped = clipped_box(box, view)
        if clipped is None:
            continue
        annotations.append({"id": first_id + len(annotations), "image_id": image_id, "category_id": 1, "iscrowd": 0,
                            "bbox": clipped, "area": FILL * clipped[2] * clipped[3],
                            "keypoints": points.reshape(-1).tolist(), "num_keypoints": int((points[:, 2] > 0).sum())})
    return annotations


def sample_id(view: View) -> str:
    return f"{photos()[view.photo]['id']}@{','.join(map(str, view.box))}{'~' if view.mirrored else ''}"


@lru_cache(maxsize=4)
def coco_ground_truth(views: tuple[View, ...]) -> dict:
    category = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(KEYPOINT_NAMES), "skeleton": []}
    return views_ground_truth(views, sample_id, view_annotations, [category],
                              "zoo.data.embedded.pose_photos: labelled people in wheel photos as views")


class PosePhotoViews(CocoViews):
    def __init__(self, preprocess):
        sizes = [pixels(i).shape[1::-1] for i in range(len(photos()))]
        views = tuple(seeded_views(sizes, VIEWS_PER_PHOTO, SEED))
        super().__init__(views, coco_ground_truth(views), preprocess)

    def photo_pixels(self, photo: int) -> np.ndarray:
        return pixels(photo)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(FIXTURE.read_bytes() + repr((self.views, FILL)).encode())
        for index in range(len(photos())):
            digest.update(pixels(index).tobytes())
        return digest.hexdigest()


def open_pose_photo_views(_data_dir, preprocess) -> PosePhotoViews:
    """The DATASETS opener: the photos ship in dependency wheels and the labels in fixtures/pose_photos/."""
    if preprocess is None:
        raise ValueError("pose_photo_views needs the pose model's preprocessing")
    return PosePhotoViews(preprocess)
