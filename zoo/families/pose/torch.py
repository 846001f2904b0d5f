"""The AIMET zoo's PyTorch pose estimation network (a lightened CMU OpenPose), release ``pose_estimation_pytorch``.

Architecture, preprocessing and decoding follow quic/aimet-model-zoo
zoo_torch/examples/poseestimation/pose_estimation_quanteval.py (commit 0df872e; the same code as
zoo_torch/examples/pose_estimation_quanteval.py at 07bcda3): ``get_model()`` builds ``PoseModel``
whose state_dict keys are ``basemodel.*``, ``pre_stage.*``, ``stage{1,2}_shared.*`` and
``stage{1,2}_{1,2}.*``. Every "sequential" entry of the source is a factorised pair
Sequential(k x 1 conv without bias, 1 x k conv with bias), followed by a ReLU. The eval script
loads ``pe_weights.pth`` with ``state.update(checkpoint)``, which tolerates a checkpoint holding a
subset of the keys; ``build_pose`` loads strictly instead.

The forward returns ``(heatmaps [B, 19, H/8, W/8], pafs [B, 38, H/8, W/8])``: the source's stage-2
outputs ``out2_2`` and ``out2_1``, the only ones its evaluation reads (``output[3]``, ``output[2]``).

Evaluation (``evaluate_model(..., fast=True)``, the script's default): the BGR image is resized to
496 x 384 (landscape) or 384 x 496 (portrait or square) with cv2's bilinear resize, flipped to RGB,
scaled ``x / 256 - 0.5``; heatmaps and PAFs are resized back to the image size (bilinear), peaks are
found per part on a Gaussian-smoothed heatmap (sigma 3, 4-neighbour maximum, > 0.1), candidate limbs
are scored by a 10-point PAF line integral, limbs are assembled greedily into skeletons and each
skeleton becomes one COCO result (x - 0.5, y - 0.5, v = 1; score = skeleton score / keypoints).
Here PIL decodes the JPEG (the source uses cv2.imread; libjpeg builds can differ by a level on
some pixels), the uint8 resize is bit-exact to OpenCV (zoo.families.ssd_lite.torch), and the float
heatmap/PAF resize is torch's bilinear (align_corners=False), cv2's INTER_LINEAR formula.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.checkpoints import load_state_dict, load_strict
from zoo.registry import ModelSpec
from zoo.tasks.pose import people_arrays

NUM_HEATMAPS = 19  # 18 OpenPose COCO parts + background
NUM_PAFS = 38      # 19 limbs x (x, y)
STRIDE = 8
# (in, mid, out, k): Sequential(Conv2d(in, mid, (k, 1), bias=False), Conv2d(mid, out, (1, k))) + ReLU
# ("conv", in, out, k): Conv2d(in, out, k, padding=k // 2) + ReLU; "pool": MaxPool2d(2, 2)
BASE = ((("conv", 3, 32, 3)), (32, 16, 32, 3), "pool", (32, 32, 64, 3), (64, 32, 96, 3), "pool",
        (96, 80, 256, 3), (256, 80, 256, 3), (256, 48, 128, 3), (128, 48, 256, 3), "pool",
        (256, 96, 512, 3), (512, 192, 512, 3))
PRE_STAGE = ((512, 256, 256, 3), ("conv", 256, 128, 3))
STAGE_INPUT = {1: 128, 2: 128 + NUM_PAFS + NUM_HEATMAPS}
SHARED_MID = {1: 112, 2: 128}
HEATMAP_SECOND_MID = {1: 32, 2: 48}

# evaluation constants of the eval script
FAST_SIZE = (496, 384)  # (width, height) for landscape images; swapped otherwise
PEAK_THRESHOLD = 0.1
PEAK_SIGMA = 3
PAF_THRESHOLD = 0.05
LIMB_SAMPLES = 10
MIN_ALIGNED_FRACTION = 0.8
MIN_SKELETON_PARTS = 4
MIN_MEAN_PART_SCORE = 0.4
NUM_PARTS = 18
# OpenPose part order: nose, neck, r-shoulder, r-elbow, r-wrist, l-shoulder, l-elbow, l-wrist, r-hip,
# r-knee, r-ankle, l-hip, l-knee, l-ankle, r-eye, l-eye, r-ear, l-ear
LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
         (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17))
LIMB_PAF_CHANNELS = ((12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5), (6, 7),
                     (8, 9), (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27))
SKELETON_SEEDING_LIMBS = 17  # the last two limbs (ear-shoulder) only extend skeletons
OPENPOSE_TO_COCO = (0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)  # -1: the neck has no COCO slot
NECK = 1


def _layers(specs) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for spec in specs:
        if spec == "pool":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, padding=0))
        elif spec[0] == "conv":
            _, c_in, c_out, k = spec
            layers += [nn.Conv2d(c_in, c_out, k, 1, k // 2), nn.ReLU()]
        else:
            c_in, mid, c_out, k = spec
            layers += [nn.Sequential(nn.Conv2d(c_in, mid, (k, 1), 1, (k // 2, 0), bias=False),
                                     nn.Conv2d(mid, c_out, (1, k), 1, (0, k // 2))), nn.ReLU()]
    return layers


def _stage_head(factorised, out_channels: int) -> nn.Sequential:
    """Three factorised 3x3 pairs, Mconv6 (1x1 + ReLU) and Mconv7 (1x1, no activation)."""
    return nn.Sequential(*_layers([*factorised, ("conv", 128, 128, 1)]), nn.Conv2d(128, out_channels, 1))


class PoseModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.basemodel = nn.Sequential(*_layers(BASE))
        self.pre_stage = nn.Sequential(*_layers(PRE_STAGE))
        # registration order as the source's, so the state_dict order matches too
        self.stage1_shared = self._shared(1)
        self.stage1_1 = self._paf_head()
        self.stage2_1 = self._paf_head()
        self.stage2_shared = self._shared(2)
        self.stage1_2 = self._heatmap_head(1)
        self.stage2_2 = self._heatmap_head(2)

    @staticmethod
    def _shared(stage: int) -> nn.Sequential:
        return nn.Sequential(*_layers([(STAGE_INPUT[stage], SHARED_MID[stage], 128, 7), (128, 112, 128, 7)]))

    @staticmethod
    def _paf_head() -> nn.Sequential:
        return _stage_head([(128, 32, 128, 3)] * 3, NUM_PAFS)

    @staticmethod
    def _heatmap_head(stage: int) -> nn.Sequential:
        return _stage_head([(128, 32, 128, 3), (128, HEATMAP_SECOND_MID[stage], 128, 3), (128, 48, 128, 3)],
                           NUM_HEATMAPS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.pre_stage(self.basemodel(x))
        shared1 = self.stage1_shared(features)
        stage1 = torch.cat([self.stage1_1(shared1), self.stage1_2(shared1), features], 1)
        shared2 = self.stage2_shared(stage1)
        return self.stage2_2(shared2), self.stage2_1(shared2)


def build_pose(checkpoint: Path | None) -> PoseModel:
    """PoseModel in eval mode, with the checkpoint's weights (pe_weights.pth) loaded strictly when given."""
    model = PoseModel()
    if checkpoint is not None:
        load_strict(model, load_state_dict(checkpoint), checkpoint)
    return model.eval()


# ----------------------------------------------------------------------------- preprocessing

def input_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) the fast evaluation resizes an image to: 496 x 384 when wider than tall, else 384 x 496."""
    return FAST_SIZE if height < width else FAST_SIZE[::-1]


def resize_linear_uint8(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """cv2.resize(image, (width, height)) with INTER_LINEAR on uint8, OpenCV's fixed-point arithmetic."""
    from zoo.families.ssd_lite.torch import _linear_taps

    x0, x1, a0, a1 = _linear_taps(image.shape[1], width, horizontal=True)
    y0, y1, b0, b1 = _linear_taps(image.shape[0], height, horizontal=False)
    pixels = image.astype(np.int64)
    rows = pixels[:, x0] * a0[None, :, None] + pixels[:, x1] * a1[None, :, None]
    top, bottom = rows[y0] >> 4, rows[y1] >> 4
    out = (((b0[:, None, None] * top) >> 16) + ((b1[:, None, None] * bottom) >> 16) + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8)


def preprocess(image) -> torch.Tensor:
    """RGB image (PIL or uint8 [H, W, 3]) -> [3, h, w] float input: fixed-size resize, x / 256 - 0.5."""
    array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {array.dtype} {array.shape}")
    resized = resize_linear_uint8(array, *input_size(array.shape[1], array.shape[0]))
    return torch.from_numpy(resized.astype(np.float32) / 256.0 - 0.5).permute(2, 0, 1).contiguous()


# ----------------------------------------------------------------------------- decoding

def upsample_outputs(heatmaps: torch.Tensor, pafs: torch.Tensor, height: int, width: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """One image's outputs ([19 | 38, h, w], batch dim optional) -> float32 [height, width, channels] each."""
    def resize(x: torch.Tensor) -> np.ndarray:
        x = x.detach().float().cpu()
        x = x if x.ndim == 4 else x.unsqueeze(0)
        return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()

    return resize(heatmaps), resize(pafs)


def find_peaks(heatmap: np.ndarray) -> np.ndarray:
    """Part peaks of one heatmap [H, W]: rows (x, y, score), row-major order.

    A peak is a pixel of the Gaussian-smoothed map (sigma 3) that is >= its 4 neighbours (zero
    outside the image) and > 0.1; its score is the unsmoothed value.
    """
    from scipy.ndimage import gaussian_filter

    smoothed = gaussian_filter(heatmap, sigma=PEAK_SIGMA)
    padded = np.pad(smoothed, 1)
    is_peak = ((smoothed >= padded[:-2, 1:-1]) & (smoothed >= padded[2:, 1:-1]) & (smoothed >= padded[1:-1, :-2])
               & (smoothed >= padded[1:-1, 2:]) & (smoothed > PEAK_THRESHOLD))
    ys, xs = np.nonzero(is_peak)
    return np.stack([xs, ys, heatmap[ys, xs]], axis=1).astype(np.float64).reshape(-1, 3)


def all_peaks(heatmap: np.ndarray) -> list[np.ndarray]:
    """Per part 0..17: rows (x, y, score, id), ids numbering every part's peaks consecutively."""
    peaks, next_id = [], 0
    for part in range(NUM_PARTS):
        found = find_peaks(heatmap[:, :, part])
        peaks.append(np.column_stack([found, np.arange(next_id, next_id + len(found))]))
        next_id += len(found)
    return peaks


def limb_alignment(paf: np.ndarray, start: np.ndarray, end: np.ndarray, image_height: int
                   ) -> tuple[np.ndarray, float]:
    """PAF [H, W, 2] . unit(start -> end) at 10 points of the segment, and their mean with a long-limb penalty."""
    vector = end[:2] - start[:2]
    norm = math.hypot(vector[0], vector[1]) or 1.0
    unit = vector / norm
    xs = np.linspace(start[0], end[0], num=LIMB_SAMPLES).astype(int)
    ys = np.linspace(start[1], end[1], num=LIMB_SAMPLES).astype(int)
    alignment = paf[ys, xs, 0] * unit[0] + paf[ys, xs, 1] * unit[1]
    return alignment, alignment.mean() + min(0.5 * image_height / norm - 1, 0)


def connect_limbs(peaks: list[np.ndarray], paf: np.ndarray, image_height: int) -> list[np.ndarray]:
    """Per limb: rows (start peak id, end peak id, score), best-scoring candidates first, each peak used once."""
    connections = []
    for (part_a, part_b), channels in zip(LIMBS, LIMB_PAF_CHANNELS):
        starts, ends = peaks[part_a], peaks[part_b]
        limb_paf = paf[:, :, list(channels)]
        candidates = []
        for i, start in enumerate(starts):
            for j, end in enumerate(ends):
                alignment, score = limb_alignment(limb_paf, start, end, image_height)
                if np.count_nonzero(alignment > PAF_THRESHOLD) > int(MIN_ALIGNED_FRACTION * len(alignment)) and score > 0:
                    candidates.append((i, j, score))
        candidates.sort(key=lambda c: c[2], reverse=True)
        rows, used_starts, used_ends = [], set(), set()
        for i, j, score in candidates:
            if i in used_starts or j in used_ends:
                continue
            rows.append((starts[i][3], ends[j][3], score))
            used_starts.add(i)
            used_ends.add(j)
            if len(rows) >= min(len(starts), len(ends)):
                break
        connections.append(np.array(rows, dtype=np.float64).reshape(-1, 3))
    return connections


def assemble_skeletons(peaks: list[np.ndarray], connections: list[np.ndarray]) -> np.ndarray:
    """Rows of 20: peak id per part (-1 if absent), total score, part count; as the source's create_skeletons."""
    flat = np.concatenate(peaks) if peaks else np.zeros((0, 4))
    skeletons = -np.ones((0, NUM_PARTS + 2))
    for k, ((part_a, part_b), limb) in enumerate(zip(LIMBS, connections)):
        for start_id, end_id, limb_score in limb:
            owners = [j for j in range(len(skeletons))
                      if skeletons[j][part_a] == start_id or skeletons[j][part_b] == end_id]
            if len(owners) == 1:
                row = skeletons[owners[0]]
                if row[part_b] != end_id:
                    row[part_b] = end_id
                    row[-1] += 1
                    row[-2] += flat[int(end_id), 2] + limb_score
            elif len(owners) == 2:
                first, second = owners
                overlap = ((skeletons[first] >= 0) & (skeletons[second] >= 0))[:-2]
                if not overlap.any():  # disjoint: merge the second into the first
                    skeletons[first][:-2] += skeletons[second][:-2] + 1
                    skeletons[first][-2:] += skeletons[second][-2:]
                    skeletons[first][-2] += limb_score
                    skeletons = np.delete(skeletons, second, 0)
                else:
                    skeletons[first][part_b] = end_id
                    skeletons[first][-1] += 1
                    skeletons[first][-2] += flat[int(end_id), 2] + limb_score
            elif not owners and k < SKELETON_SEEDING_LIMBS:
                row = -np.ones(NUM_PARTS + 2)
                row[part_a], row[part_b] = start_id, end_id
                row[-1] = 2
                row[-2] = flat[int(start_id), 2] + flat[int(end_id), 2] + limb_score
                skeletons = np.vstack([skeletons, row])
            # the source indexes a 2-slot list for a third owner and fails; such a limb is skipped here
    keep = (skeletons[:, -1] >= MIN_SKELETON_PARTS) & (skeletons[:, -2] / np.maximum(skeletons[:, -1], 1)
                                                        >= MIN_MEAN_PART_SCORE)
    return skeletons[keep]


def skeletons_to_coco(image_id: int, skeletons: np.ndarray, peaks: list[np.ndarray]) -> list[dict]:
    """One COCO keypoint result per skeleton: [x - 0.5, y - 0.5, 1] per found part (neck dropped),
    zeros elsewhere; score = skeleton score / number of COCO keypoints found."""
    flat = np.concatenate(peaks) if peaks else np.zeros((0, 4))
    results = []
    for row in skeletons:
        keypoints = np.zeros((17, 3))
        found = 0
        for part in range(NUM_PARTS):
            peak_id = int(row[part])
            if part == NECK or peak_id < 0:
                continue
            keypoints[OPENPOSE_TO_COCO[part]] = (flat[peak_id, 0] - 0.5, flat[peak_id, 1] - 0.5, 1)
            found += 1
        results.append({"image_id": int(image_id), "category_id": 1,
                        "keypoints": [float(v) for v in keypoints.reshape(-1)], "score": float(row[-2] / found)})
    return results


def decode_skeletons(heatmap: np.ndarray, paf: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Full-resolution heatmap [H, W, 19] and PAF [H, W, 38] -> (skeleton rows, per-part peaks)."""
    peaks = all_peaks(heatmap)
    return assemble_skeletons(peaks, connect_limbs(peaks, paf, heatmap.shape[0])), peaks


def decode_coco_keypoints(heatmaps: torch.Tensor, pafs: torch.Tensor, image_id: int, height: int, width: int
                          ) -> list[dict]:
    """The model's outputs for one image -> its COCO keypoint results (for zoo.metrics.keypoints)."""
    heatmap, paf = upsample_outputs(heatmaps, pafs, height, width)
    skeletons, peaks = decode_skeletons(heatmap, paf)
    return skeletons_to_coco(image_id, skeletons, peaks)


def decode_batch(outputs, images):
    """Per image: heatmaps + PAFs upsampled to the image, peaks, limbs and skeletons (the zoo's eval script)."""
    heatmaps, pafs = (torch.from_numpy(o) for o in outputs)
    return [people_arrays(decode_coco_keypoints(h[None], p[None], 0, image.height, image.width))
            for h, p, image in zip(heatmaps, pafs, images)]


MODELS = (
    # AIMET zoo PyTorch pose estimation (OpenPose-style): resize to 496x384 (or 384x496), stride 8
    ModelSpec("pose_estimation", build_pose, preprocess, None, decode_batch),
)
