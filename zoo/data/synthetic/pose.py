"""A seeded, embedded COCO person-keypoints set: one articulated figure per image, drawn on real images from wheels.

Each image holds one person-like figure facing the camera: head with eyes, nose, mouth and ears, neck,
torso, two-segment arms and legs with hands and feet, each part outlined and filled with a crop of a
shipped photo or texture (the sources of ``zoo.data.synthetic.voc``). The 17 COCO keypoints are the
joints this code places, so they are exact: shoulders and hips are corners of the torso, elbows and knees
the joints of the limb capsules, wrists and ankles their ends, eyes, nose and ears the centres of the
face features. ``v`` follows COCO: 2 visible, 1 inside the image but covered by a part drawn later that
does not own the keypoint (an arm in front of the face), 0 outside the image (``x = y = 0``). The person is
the one facing the camera, so ``left_*`` keypoints lie on the image's right side of the body.

Layout (``generate``), COCO 2017's, so ``zoo.data.real.coco.CocoImageSet`` reads it:

- ``<split>/<image id as 12 digits>.jpg``
- ``annotations/person_keypoints_<split>.json``: ``images``, ``annotations`` (keypoints, num_keypoints,
  bbox and area of the drawn silhouette, its RLE segmentation, iscrowd 0) and the COCO person category
  with its 17 keypoint names and skeleton.

``python -m zoo.data.synthetic.pose --out DIR --images 100 --seed 0`` (seed 0 is the held-out set,
``EVAL_SEED``; the tiny pose model trains on ``TRAIN_SEED``, see fixtures/pose/README.md).
"""
from __future__ import annotations

import hashlib
import io
import json
import random
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from zoo.data.real.coco import CocoImage, annotation_path
from zoo.data.synthetic.cli import (  # noqa: F401  (tree_digest: re-exported)
    run_generator,
    tree_digest,
)
from zoo.data.synthetic.voc import background, crop_texture, fill_texture

# COCO's person category (person_keypoints_val2017.json): keypoint order and 1-based skeleton
KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
SKELETON = ((16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9),
            (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7))
KP = {name: i for i, name in enumerate(KEYPOINT_NAMES)}

IMAGE_SIZE = (128, 96)      # (H, W): the 4:3 aspect of a top-down pose model's person crop (256 x 192) at half size
SPLIT = "val2017"
EVAL_SEED, EVAL_IMAGES = 0, 100
TRAIN_SEED = 1
JPEG_QUALITY = 90
SUPERSAMPLE = 4             # masks are drawn at 4x and box-filtered: anti-aliased edges, sub-pixel geometry
HEIGHT_RANGE = (0.6, 0.95)  # figure height (head top to soles, standing straight) as a fraction of the image height
MARGIN = 0.05               # the figure's extent may leave the image by this fraction of its size on each side
DECIMALS = 2                # keypoints are rounded and the rounded values are the ground truth
STREAM_IMAGE = 0

SHIRTS = ("brick", "grass", "gravel", "coffee", "chelsea", "astronaut", "china", "flower", "rocket")
TROUSERS = ("brick", "grass", "gravel", "coffee", "china", "hubble_deep_field")
SKIN = ((224, 172, 140), (198, 134, 96), (141, 85, 54), (92, 58, 40), (240, 200, 170))


# ---- geometry -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Capsule:
    """The points within ``radius`` of the segment p0-p1."""
    p0: np.ndarray
    p1: np.ndarray
    radius: float


@dataclass(frozen=True)
class Polygon:
    points: np.ndarray  # [n, 2]


Shape = Capsule | Polygon


@dataclass(frozen=True)
class Part:
    name: str
    shapes: tuple[Shape, ...]
    fill: str                   # a key of the image's fills ("shirt", "skin", ...)
    shade: float = 1.0          # multiplies the fill, so that overlapping parts of one fill stay apart
    outlined: bool = True       # a dark rim (part of the silhouette); face features have none
    owns: tuple[int, ...] = ()  # keypoints that stay visible where this part covers them


@dataclass(frozen=True)
class Figure:
    keypoints: np.ndarray       # [17, 2] image coordinates (continuous: pixel (i, j) spans [j, j+1) x [i, i+1))
    parts: tuple[Part, ...]     # in drawing order, back to front
    outline: float              # rim width in pixels


@dataclass(frozen=True)
class Sample:
    image: np.ndarray           # [H, W, 3] uint8
    keypoints: np.ndarray       # [17, 3] float: x, y, v (COCO: v=0 -> x = y = 0)
    mask: np.ndarray            # [H, W] bool, the figure's silhouette


def _ellipse(centre: np.ndarray, rx: float, ry: float, vertices: int = 24) -> Polygon:
    t = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    return Polygon(centre + np.stack([rx * np.cos(t), ry * np.sin(t)], axis=1))


def _direction(degrees: float, side: int) -> np.ndarray:
    """Unit vector ``degrees`` away from straight down, towards the figure's ``side`` (+1 its left = image right)."""
    angle = np.radians(degrees)
    return np.array([side * np.sin(angle), np.cos(angle)])


def _limb(root: np.ndarray, lengths: tuple[float, float], angles: tuple[float, float], side: int):
    """(joint, end) of a two-segment limb hanging from ``root``."""
    joint = root + lengths[0] * _direction(angles[0], side)
    return joint, joint + lengths[1] * _direction(angles[1], side)


def _body(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], list[Part]]:
    """Keypoints and parts in body units (neck at the origin, y down, ~1.07 units head top to soles)."""
    u = rng.uniform
    head_c, rx, ry = np.array([u(-0.01, 0.01), -0.115]), u(0.055, 0.068), u(0.07, 0.085)
    yaw = u(-0.3, 0.3) * rx  # the face turns; ears stay
    sw, hw, hip_y = u(0.09, 0.13), u(0.06, 0.085), u(0.35, 0.39)
    points = {
        "nose": head_c + [yaw, 0.2 * ry],
        "left_eye": head_c + [0.38 * rx + yaw, -0.12 * ry], "right_eye": head_c + [-0.38 * rx + yaw, -0.12 * ry],
        "left_ear": head_c + [1.4 * rx, 0.0], "right_ear": head_c + [-1.4 * rx, 0.0],  # clear of the head's rim
        "left_shoulder": np.array([sw, 0.04]), "right_shoulder": np.array([-sw, 0.04]),
        "left_hip": np.array([hw, hip_y]), "right_hip": np.array([-hw, hip_y]),
    }
    arm, leg = (u(0.15, 0.18), u(0.13, 0.16)), (u(0.23, 0.27), u(0.21, 0.25))
    for side, name in ((1, "left"), (-1, "right")):
        upper = u(-25, 150)
        points[f"{name}_elbow"], points[f"{name}_wrist"] = _limb(
            points[f"{name}_shoulder"], arm, (upper, upper + u(-30, 140)), side)
        thigh = u(-15, 55)
        points[f"{name}_knee"], points[f"{name}_ankle"] = _limb(
            points[f"{name}_hip"], leg, (thigh, thigh + u(-50, 25)), side)
    return points, _parts(points, head_c, rx, ry, yaw, rng)


def _parts(p: dict[str, np.ndarray], head_c: np.ndarray, rx: float, ry: float, yaw: float,
           rng: np.random.Generator) -> list[Part]:
    """The drawing order: arms drawn behind (each with probability 0.25), legs, torso, head, arms in front."""
    shade = lambda: float(rng.uniform(0.7, 1.2))  # noqa: E731
    torso_corners = np.array([p["right_shoulder"] + [-0.02, -0.03], p["left_shoulder"] + [0.02, -0.03],
                              p["left_hip"] + [0.035, 0.04], p["right_hip"] + [-0.035, 0.04]])
    torso = Part("torso", (Polygon(torso_corners),), "shirt", shade(),
                 owns=(KP["left_shoulder"], KP["right_shoulder"], KP["left_hip"], KP["right_hip"]))
    face = ("nose", "left_eye", "right_eye")
    head = [
        Part("left_ear", (_ellipse(p["left_ear"], 0.35 * rx, 0.4 * ry),), "skin", 0.85, owns=(KP["left_ear"],)),
        Part("right_ear", (_ellipse(p["right_ear"], 0.35 * rx, 0.4 * ry),), "skin", 0.85, owns=(KP["right_ear"],)),
        Part("neck", (Capsule(np.array([0.0, 0.02]), head_c, 0.024),), "skin", 0.9),
        Part("head", (_ellipse(head_c, rx, ry),), "skin", 1.0, owns=tuple(KP[k] for k in face)),
        Part("eyes", (_ellipse(p["left_eye"], 0.15 * rx, 0.12 * ry), _ellipse(p["right_eye"], 0.15 * rx, 0.12 * ry)),
             "dark", outlined=False, owns=tuple(KP[k] for k in face)),
        Part("nose", (_ellipse(p["nose"], 0.12 * rx, 0.1 * ry),), "skin", 0.6, outlined=False,
             owns=tuple(KP[k] for k in face)),
        Part("mouth", (Capsule(head_c + [yaw - 0.3 * rx, 0.52 * ry], head_c + [yaw + 0.3 * rx, 0.52 * ry],
                               0.05 * ry),), "lips", outlined=False, owns=tuple(KP[k] for k in face)),
    ]
    legs, arms_behind, arms_front = [], [], []
    for side, name in ((1, "left"), (-1, "right")):
        hip, knee, ankle = p[f"{name}_hip"], p[f"{name}_knee"], p[f"{name}_ankle"]
        legs += [
            Part(f"{name}_thigh", (Capsule(hip, knee, 0.042),), "trousers", shade(),
                 owns=(KP[f"{name}_hip"], KP[f"{name}_knee"])),
            Part(f"{name}_shin", (Capsule(knee, ankle, 0.035),), "trousers", shade(),
                 owns=(KP[f"{name}_knee"], KP[f"{name}_ankle"])),
            Part(f"{name}_foot", (Capsule(ankle + [0, 0.012], ankle + [side * 0.06, 0.03], 0.022),), "shoes", 1.0,
                 owns=(KP[f"{name}_ankle"],)),
        ]
        shoulder, elbow, wrist = p[f"{name}_shoulder"], p[f"{name}_elbow"], p[f"{name}_wrist"]
        hand_dir = (wrist - elbow) / max(np.linalg.norm(wrist - elbow), 1e-6)
        arm = [
            Part(f"{name}_upper_arm", (Capsule(shoulder, elbow, 0.03),), "shirt", shade(),
                 owns=(KP[f"{name}_shoulder"], KP[f"{name}_elbow"])),
            Part(f"{name}_forearm", (Capsule(elbow, wrist, 0.025),), "skin" if rng.random() < 0.3 else "shirt", shade(),
                 owns=(KP[f"{name}_elbow"], KP[f"{name}_wrist"])),
            Part(f"{name}_hand", (_ellipse(wrist + 0.03 * hand_dir, 0.028, 0.028),), "skin", 1.0,
                 owns=(KP[f"{name}_wrist"],)),
        ]
        (arms_behind if rng.random() < 0.25 else arms_front).extend(arm)
    return arms_behind + legs + [torso] + head + arms_front


def _extent(shapes: Iterable[Shape]) -> tuple[np.ndarray, np.ndarray]:
    """(min x, min y), (max x, max y) of the shapes."""
    lows, highs = [], []
    for shape in shapes:
        if isinstance(shape, Capsule):
            ends = np.stack([shape.p0, shape.p1])
            lows.append(ends.min(0) - shape.radius)
            highs.append(ends.max(0) + shape.radius)
        else:
            lows.append(shape.points.min(0))
            highs.append(shape.points.max(0))
    return np.min(lows, axis=0), np.max(highs, axis=0)


def _transformed(part: Part, matrix: np.ndarray, offset: np.ndarray, scale: float) -> Part:
    def move(shape: Shape) -> Shape:
        if isinstance(shape, Capsule):
            return Capsule(matrix @ shape.p0 + offset, matrix @ shape.p1 + offset, shape.radius * scale)
        return Polygon(shape.points @ matrix.T + offset)

    return Part(part.name, tuple(move(s) for s in part.shapes), part.fill, part.shade, part.outlined, part.owns)


def _placed(points: dict[str, np.ndarray], parts: list[Part], height: int, width: int,
            rng: np.random.Generator) -> Figure:
    """Scale, squeeze (a body turned a little), roll and shift the body into the image."""
    scale = rng.uniform(*HEIGHT_RANGE) * height / 1.07
    angle = np.radians(rng.uniform(-25, 25))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rotation @ np.diag([rng.uniform(0.85, 1.1), 1.0]) * scale
    low, high = _extent(s for p in parts for s in _transformed(p, matrix, np.zeros(2), scale).shapes)
    frame = np.array([width, height]) * (1 + 2 * MARGIN)
    fit = min(1.0, *(frame / (high - low)))  # a sprawling pose is shrunk to fit, not cut
    matrix, scale, low, high = matrix * fit, scale * fit, low * fit, high * fit
    offset = -low - np.array([width, height]) * MARGIN + rng.uniform(0, 1, size=2) * (frame - (high - low))
    keypoints = np.stack([matrix @ points[name] for name in KEYPOINT_NAMES]) + offset
    return Figure(keypoints, tuple(_transformed(p, matrix, offset, scale) for p in parts), max(0.6, 0.012 * scale))


# ---- drawing --------------------------------------------------------------------------------------------------------

def _grown(points: np.ndarray, distance: float) -> np.ndarray:
    """A convex polygon with every edge moved ``distance`` outwards (mitred corners)."""
    if distance == 0:
        return points
    edges = np.roll(points, -1, axis=0) - points
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1) / np.linalg.norm(edges, axis=1, keepdims=True)
    x, y = points[:, 0], points[:, 1]
    if np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) < 0:  # clockwise in y-down coordinates: flip to outward
        normals = -normals
    before, after = np.roll(normals, 1, axis=0), normals  # the edges ending and starting at each vertex
    return points + distance * (before + after) / (1 + np.sum(before * after, axis=1, keepdims=True))


def _box(shapes: Sequence[Shape], grow: float, height: int, width: int) -> tuple[int, int, int, int] | None:
    """The image pixels (x0, y0, x1, y1), end exclusive, that the grown shapes can touch; None if off-image."""
    low, high = _extent(shapes)
    x0, y0 = (max(0, int(np.floor(v - grow)) - 1) for v in low)
    x1, y1 = min(width, int(np.ceil(high[0] + grow)) + 1), min(height, int(np.ceil(high[1] + grow)) + 1)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _coverage(shapes: Sequence[Shape], grows: Sequence[float], box: tuple[int, int, int, int]) -> np.ndarray:
    """[len(grows), h, w] float32 in [0, 1]: the fraction of each pixel of ``box`` covered by the shapes grown
    by each of ``grows``, largest first (at most 3: one colour channel of the supersampled canvas each)."""
    x0, y0, x1, y1 = box
    canvas = Image.new("RGB", ((x1 - x0) * SUPERSAMPLE, (y1 - y0) * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(canvas)
    origin = np.array([x0, y0])

    def on_canvas(points: np.ndarray) -> list[tuple[float, float]]:  # PIL's integer coordinates are pixel centres
        return [(float(x), float(y)) for x, y in (np.atleast_2d(points) - origin) * SUPERSAMPLE - 0.5]

    if list(grows) != sorted(grows, reverse=True):
        raise ValueError(f"grows {grows} must be in decreasing order")
    for channel, grow in enumerate(grows):  # a smaller shape lies inside the larger: it keeps their channels set
        colour = tuple(255 if c <= channel else 0 for c in range(3))
        for shape in shapes:
            if isinstance(shape, Capsule):
                radius = (shape.radius + grow) * SUPERSAMPLE
                a, b = (np.array(p) for p in on_canvas(np.stack([shape.p0, shape.p1])))
                along = b - a
                normal = np.array([-along[1], along[0]]) / max(np.linalg.norm(along), 1e-9) * radius
                draw.polygon([tuple(a + normal), tuple(b + normal), tuple(b - normal), tuple(a - normal)], fill=colour)
                for cx, cy in (a, b):
                    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
            else:
                draw.polygon(on_canvas(_grown(shape.points, grow)), fill=colour)
    covered = np.asarray(canvas.reduce(SUPERSAMPLE), dtype=np.float32) / 255
    return covered.transpose(2, 0, 1)[:len(grows)]


def _plain(colour: Sequence[float], height: int, width: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(colour, dtype=np.float32), (height, width, 3))


def _faint(colour: Sequence[float], height: int, width: int, contrast: float, rng: np.random.Generator) -> np.ndarray:
    """``colour`` with a gravel crop's texture at ``contrast``."""
    grey = np.asarray(crop_texture("gravel", width, height, rng), dtype=np.float32)
    return np.asarray(colour, dtype=np.float32) * (1 + contrast * (grey / max(grey.mean(), 1.0) - 1))[..., None]


def _fills(height: int, width: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One image-sized fill per kind of material, so that a part takes its pixels from its fill."""
    skin = np.asarray(SKIN[int(rng.integers(len(SKIN)))]) * rng.uniform(0.9, 1.1)
    return {
        "shirt": fill_texture(str(rng.choice(SHIRTS)), width, height, rng).astype(np.float32),
        "trousers": fill_texture(str(rng.choice(TROUSERS)), width, height, rng).astype(np.float32),
        "skin": _faint(skin, height, width, 0.12, rng),
        "shoes": _faint([rng.uniform(15, 80)] * 3, height, width, 0.3, rng),
        "dark": _plain([25, 20, 20], height, width),
        "lips": _plain(skin * [0.75, 0.45, 0.45], height, width),
        "rim": _plain([rng.uniform(5, 45)] * 3, height, width),
    }


def _composite(region: np.ndarray, fill: np.ndarray, alpha: np.ndarray) -> None:
    region *= 1 - alpha[..., None]
    region += fill * alpha[..., None]


def _draw(figure: Figure, image: np.ndarray, fills: dict[str, np.ndarray]) -> tuple[np.ndarray, list[Part | None]]:
    """Paint the parts back to front onto ``image`` (float32, in place).

    Returns the silhouette coverage and, per keypoint, the last part that covers its pixel.
    """
    height, width = image.shape[:2]
    silhouette = np.zeros((height, width), dtype=np.float32)
    pixels = np.floor(figure.keypoints).astype(int)
    on_top: list[Part | None] = [None] * len(KEYPOINT_NAMES)
    for part in figure.parts:
        grow = figure.outline if part.outlined else 0.0
        box = _box(part.shapes, grow, height, width)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        region = image[y0:y1, x0:x1]
        outer, inner = _coverage(part.shapes, (grow, 0.0), box) if part.outlined else \
            _coverage(part.shapes, (0.0,), box)[[0, 0]]
        if part.outlined:
            _composite(region, fills["rim"][y0:y1, x0:x1], outer)
        _composite(region, fills[part.fill][y0:y1, x0:x1] * part.shade, inner)
        np.maximum(silhouette[y0:y1, x0:x1], outer, out=silhouette[y0:y1, x0:x1])
        inside = np.flatnonzero((pixels[:, 0] >= x0) & (pixels[:, 0] < x1) & (pixels[:, 1] >= y0) & (pixels[:, 1] < y1))
        for k in inside[outer[pixels[inside, 1] - y0, pixels[inside, 0] - x0] >= 0.5]:
            on_top[k] = part
    return silhouette, on_top


def _coco_keypoints(keypoints: np.ndarray, on_top: list[Part | None], height: int, width: int) -> np.ndarray:
    """[17, 3] x, y, v with COCO's visibility flags (see the module docstring)."""
    out = np.zeros((len(KEYPOINT_NAMES), 3))
    for k, (x, y) in enumerate(keypoints):
        if 0 <= x < width and 0 <= y < height:
            covered = on_top[k] is not None and k not in on_top[k].owns
            out[k] = x, y, 1 if covered else 2
    return out


def render(index: int, seed: int, image_size: tuple[int, int] = IMAGE_SIZE) -> Sample:
    """Image ``index`` of the set with ``seed``: it depends on nothing else, so longer sets extend shorter ones."""
    height, width = image_size
    rng = np.random.default_rng([seed, index, STREAM_IMAGE])
    image = background(height, width, rng).astype(np.float32)
    fills = _fills(height, width, rng)
    points, parts = _body(rng)
    figure = _placed(points, parts, height, width, rng)
    figure = Figure(np.round(figure.keypoints, DECIMALS), figure.parts, figure.outline)
    silhouette, on_top = _draw(figure, image, fills)
    keypoints = _coco_keypoints(figure.keypoints, on_top, height, width)
    return Sample(np.clip(np.round(image), 0, 255).astype(np.uint8), keypoints, silhouette >= 0.5)


# ---- COCO files -----------------------------------------------------------------------------------------------------

def person_category() -> dict:
    return {"supercategory": "person", "id": 1, "name": "person", "keypoints": list(KEYPOINT_NAMES),
            "skeleton": [list(pair) for pair in SKELETON]}


def file_name(image_id: int) -> str:
    return f"{image_id:012d}.jpg"


def annotation(image_id: int, sample: Sample) -> dict:
    """The COCO person annotation: keypoints, their count, the silhouette's bbox, area and RLE."""
    from pycocotools import mask as mask_utils

    ys, xs = np.nonzero(sample.mask)
    rle = mask_utils.encode(np.asfortranarray(sample.mask.astype(np.uint8)))
    keypoints = [round(float(v), DECIMALS) if i % 3 < 2 else int(v) for i, v in enumerate(sample.keypoints.ravel())]
    return {
        "id": image_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
        "keypoints": keypoints, "num_keypoints": int((sample.keypoints[:, 2] > 0).sum()),
        "bbox": [float(xs.min()), float(ys.min()), float(xs.max() + 1 - xs.min()), float(ys.max() + 1 - ys.min())],
        "area": float(sample.mask.sum()),
        "segmentation": {"size": list(sample.mask.shape), "counts": rle["counts"].decode("ascii")},
    }


def encode_jpeg(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=2, optimize=False)
    return buffer.getvalue()


@dataclass(frozen=True)
class PoseSplit:
    """A generated split in memory: the JPEG bytes of each image and the COCO keypoints dictionary."""
    jpegs: tuple[bytes, ...]
    coco: dict

    def image_ids(self) -> list[int]:
        return [image["id"] for image in self.coco["images"]]


def build_split(num_images: int, seed: int, image_size: tuple[int, int] = IMAGE_SIZE) -> PoseSplit:
    """Images 1..num_images of ``seed``; same arguments, same bytes."""
    if min(image_size) < 32:
        raise ValueError(f"image_size {image_size} is too small to draw a face; use at least 32 x 32")
    if num_images < 1:
        raise ValueError(f"--images {num_images}: generate at least one image")
    height, width = image_size
    jpegs, images, annotations = [], [], []
    for index in range(num_images):
        image_id = index + 1
        sample = render(index, seed, image_size)
        jpegs.append(encode_jpeg(sample.image))
        images.append({"id": image_id, "file_name": file_name(image_id), "height": height, "width": width,
                       "license": 1})
        annotations.append(annotation(image_id, sample))
    coco = {
        "info": {"description": f"zoo synthetic COCO person keypoints (zoo/data/synthetic/pose.py), seed {seed}",
                 "version": "1.0"},
        "licenses": [{"id": 1, "name": "derived from CC0, public-domain and CC BY 2.0 images shipped in "
                                        "scikit-image and scikit-learn; see fixtures/pose/README.md", "url": ""}],
        "images": images, "annotations": annotations, "categories": [person_category()],
    }
    return PoseSplit(tuple(jpegs), coco)


def generate(root: Path, num_images: int, seed: int, image_size: tuple[int, int] = IMAGE_SIZE,
             split: str = SPLIT) -> PoseSplit:
    """Write root/<split>/*.jpg and root/annotations/person_keypoints_<split>.json; same arguments, same bytes."""
    root = Path(root)
    images_dir, json_path = root / split, annotation_path(root, split)
    for existing in (images_dir, json_path):
        if existing.exists() and (existing.is_file() or any(existing.iterdir())):
            raise FileExistsError(f"{existing} exists; delete it or choose another --out or --split "
                                  f"(a new split never mixes with an old one)")
    data = build_split(num_images, seed, image_size)
    images_dir.mkdir(parents=True, exist_ok=True)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    for image, jpeg in zip(data.coco["images"], data.jpegs, strict=True):
        (images_dir / image["file_name"]).write_bytes(jpeg)
    json_path.write_text(json.dumps(data.coco, separators=(",", ":")) + "\n")
    return data


# ---- dataset --------------------------------------------------------------------------------------------------------

CALIBRATION_POOL = 1000  # calibration images are drawn from the first images of the training seed


@lru_cache(maxsize=4)
def _cached_split(num_images: int, seed: int, image_size: tuple[int, int]) -> PoseSplit:
    return build_split(num_images, seed, image_size)


def decode_jpeg(jpeg: bytes) -> Image.Image:
    with Image.open(io.BytesIO(jpeg)) as image:
        return image.convert("RGB")


class SyntheticPoseSet:
    """Map-style dataset of a generated split held in memory: (preprocessed image, CocoImage).

    Offers what ``zoo.data.real.coco.CocoImageSet`` offers for real COCO (``ground_truth``,
    ``image_ids()``, ``sample_ids()``, ``fingerprint()``, ``calibration_images()``), with the ground truth as
    the COCO dictionary instead of a path (``zoo.metrics.keypoints.coco_keypoint_stats`` takes either and copies
    it; do not modify it in place). The bytes are those ``generate`` writes for the same arguments.
    """

    LIST_ACCESSORS = ("image_ids",)
    INDEX_ACCESSORS = ()
    SHARED_ATTRIBUTES = ("ground_truth",)

    def __init__(self, preprocess: Callable[[Image.Image], object], num_images: int = EVAL_IMAGES,
                 seed: int = EVAL_SEED, image_size: tuple[int, int] = IMAGE_SIZE):
        self.split = _cached_split(num_images, seed, tuple(image_size))
        self.preprocess = preprocess
        self.image_size = tuple(image_size)
        self.ground_truth = self.split.coco
        self.images = [CocoImage(int(i["id"]), i["file_name"], int(i["height"]), int(i["width"]))
                       for i in self.ground_truth["images"]]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[object, CocoImage]:
        return self.preprocess(decode_jpeg(self.split.jpegs[i])), self.images[i]

    def image_ids(self) -> list[int]:
        return [image.image_id for image in self.images]

    def sample_ids(self) -> list[str]:
        return [image.file_name for image in self.images]

    def fingerprint(self) -> str:
        """Identifies the images and ground truth, for caching FP32 results."""
        digest = hashlib.sha256(json.dumps(self.ground_truth, sort_keys=True).encode())
        for jpeg in self.split.jpegs:
            digest.update(jpeg)
        return digest.hexdigest()

    def calibration_images(self, count: int, seed: int) -> list:
        """``count`` preprocessed training images (seed TRAIN_SEED), a seeded sample of the first CALIBRATION_POOL."""
        indices = random.Random(seed).sample(range(max(count, CALIBRATION_POOL)), count)
        return [self.preprocess(decode_jpeg(encode_jpeg(render(i, TRAIN_SEED, self.image_size).image)))
                for i in indices]


def open_synthetic_pose(_data_dir, preprocess) -> SyntheticPoseSet:
    """The DATASETS opener: the held-out split is generated in memory, so there is no data directory."""
    return SyntheticPoseSet(preprocess)


# ---- command line ---------------------------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    return run_generator(argv, prog="python -m zoo.data.synthetic.pose", description=__doc__.splitlines()[0],
                         out_help="directory that receives <split>/ and annotations/", images=EVAL_IMAGES,
                         seed=EVAL_SEED, seed_help=f"seed (default {EVAL_SEED}, the held-out set)", size=IMAGE_SIZE,
                         generate=lambda args: generate(args.out, args.images, args.seed, args.size, args.split),
                         extra=lambda parser: parser.add_argument(
                             "--split", default=SPLIT, help=f"split name in the file names (default {SPLIT})"))


if __name__ == "__main__":
    sys.exit(main())
