"""The AIMET zoo's TensorFlow pose estimation model (release ``pose_estimation_tensorflow``) in Keras 3.

What the source establishes (quic/aimet-model-zoo, zoo_tensorflow/examples/pose_estimation_quanteval.py
at 8a6e80d, the same code in zoo_tensorflow/pose_estimation/evaluators/ at f74d559 and in
aimet_zoo_tensorflow/pose_estimation/evaluators/ at HEAD; doc zoo_tensorflow/Docs/PoseEstimation.md):

- the release is a TF1 meta graph + checkpoint (``pose_estimation_tensorflow/pose_estimation.meta``,
  loaded with aimet_tensorflow ``graph_saver.load_model_from_meta``); input ``input:0`` (NHWC, the
  script feeds ``[1, H, W, 3]``), outputs ``node184:0`` (PAFs) and ``node196:0`` (heatmaps), both NHWC
  (the script transposes them with ``(0, 3, 1, 2)`` before its NCHW->HWC decode). No public source
  names the checkpoint's variables, so this module has no TF-checkpoint converter.
- the network is the PyTorch zoo's pose model (zoo.families.pose.torch, ``PoseModel``): the names are the
  value numbers of a torch.onnx export of that model (input ``0``, its 98 parameters ``1``..``98``,
  then one number per node). Counting nodes in the source's forward order (``stage1_1`` before
  ``stage1_2``, ``stage2_1`` before ``stage2_2``; every conv, ReLU, max-pool and the concat is one
  node) puts the stage-2 PAF head's last conv at node 86 -> ``184`` and the stage-2 heatmap head's at
  node 98 -> ``196``: the same 98 tensors, 98 nodes and output order (checked by exporting
  zoo.families.pose.torch.PoseModel with torch.onnx). The doc says the weights were "compressed" and
  optimised with DFQ, so they need not equal the PyTorch release's ``pe_weights.pth``.

The Keras model here: NHWC input of any height and width (the evaluation feeds a different size per
image), the layers of zoo.families.pose.torch (factorised k x 1 / 1 x k conv pairs, the first without bias;
2 x 2 max-pools; 'same' padding = the source's k // 2), Keras layer names = the PyTorch module paths
with ``.`` -> ``_``, and the outputs ``[heatmaps (B, H/8, W/8, 19), pafs (B, H/8, W/8, 38)]``: the same
order and meaning as ``PoseModel.forward`` (the TF graph's fetch order is the reverse: PAFs, heatmaps).

Weights: ``load_torch_state_dict`` converts a PyTorch ``PoseModel`` state_dict (``pe_weights.pth``;
read tensors-only by zoo.checkpoints.load_state_dict), OIHW -> HWIO, every name and shape checked
before anything is assigned. ``None`` keeps Keras's initialisation (the suite seeds it).

Evaluation (the TF script's ``evaluate_session``, whose ``fast`` defaults to False and which every
call leaves so): COCO **val2014** person keypoints, all images (sorted ids; ``num_imgs`` truncates),
calibration on the first 500 (2020 script) or 2000 (2022 scripts) images through the same function.
Per image, one scale: ``scale = 368 / height``; ``cv2.resize(fx=fy=scale, INTER_CUBIC)`` of the uint8
image; bottom/right padding with 128 to multiples of 8; BGR -> RGB; ``x / 256 - 0.5`` (the padding
becomes 0). The outputs are resized x8 (``fx=fy=8``, cubic), cropped to the unpadded part and resized
(cubic) to the image size; peaks, limbs and skeletons as zoo.families.pose.torch (the same functions in both
scripts). The PyTorch zoo's script instead defaults to ``fast=True`` (fixed 496 x 384, bilinear).
Here PIL decodes the JPEG, and the cubic resizes follow OpenCV's ``resizeGeneric_`` in float32 (see
``resize_cubic`` for how close that is to the opencv-python wheels on uint8 images).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.backends.keras_weights import LayerWeights, assign_plan, check_names
from zoo.backends.tf_graph import MetaGraphModel
from zoo.checkpoints import CheckpointError, load_state_dict
from zoo.families.pose.torch import (
    BASE,
    HEATMAP_SECOND_MID,
    NUM_HEATMAPS,
    NUM_PAFS,
    PRE_STAGE,
    SHARED_MID,
    STAGE_INPUT,
    STRIDE,
    build_pose,
    decode_skeletons,
    skeletons_to_coco,
)
from zoo.registry import ModelSpec

CROP_HEIGHT = 368   # run_session: crop = 368, scales = [368 / image height]
PAD_VALUE = 128     # padValue, before x / 256 - 0.5
CHECKPOINT_FIX = ("pass the AIMET zoo PyTorch pose state_dict (pe_weights.pth, zoo.families.pose.torch.PoseModel keys); "
                  "the TF release's checkpoint variable names are not public, so it has no converter")


# ----------------------------------------------------------------------------- the network
def _keras_name(torch_prefix: str) -> str:
    return torch_prefix.replace(".", "_")


def _specs() -> list[tuple[str, list]]:
    """(torch module path, layer specs of zoo.families.pose.torch) per Sequential, in the source's forward order."""
    def head(factorised, out_channels):
        return [*factorised, ("conv", 128, 128, 1), ("final", 128, out_channels, 1)]

    paf = head([(128, 32, 128, 3)] * 3, NUM_PAFS)

    def heatmap(stage):
        return head([(128, 32, 128, 3), (128, HEATMAP_SECOND_MID[stage], 128, 3), (128, 48, 128, 3)], NUM_HEATMAPS)

    def shared(stage):
        return [(STAGE_INPUT[stage], SHARED_MID[stage], 128, 7), (128, 112, 128, 7)]

    return [("basemodel", list(BASE)), ("pre_stage", list(PRE_STAGE)), ("stage1_shared", shared(1)),
            ("stage1_1", paf), ("stage1_2", heatmap(1)), ("stage2_shared", shared(2)), ("stage2_1", paf),
            ("stage2_2", heatmap(2))]


def _sequential(x, prefix: str, specs):
    """Apply one source Sequential (its convs named as ``_plan`` names them).

    Torch indices as zoo.families.pose.torch._layers: a conv or a factorised pair is followed by its ReLU
    (2 entries), a pool is 1 entry; a head's last 1x1 conv has no ReLU.
    """
    from zoo.backends.tf_runtime import import_tensorflow

    layers = import_tensorflow().keras.layers
    index = 0

    def conv(x, torch_name, filters, kernel, bias, activation=None):
        name = _keras_name(torch_name)
        return layers.Conv2D(filters, kernel, padding="same", use_bias=bias, activation=activation, name=name)(x)

    for spec in specs:
        if spec == "pool":
            x = layers.MaxPooling2D(2, 2, name=_keras_name(f"{prefix}.{index}"))(x)
            index += 1
        elif spec[0] in ("conv", "final"):
            _, _, c_out, k = spec
            x = conv(x, f"{prefix}.{index}", c_out, k, True, None if spec[0] == "final" else "relu")
            index += 2
        else:
            _, mid, c_out, k = spec
            x = conv(x, f"{prefix}.{index}.0", mid, (k, 1), False)
            x = conv(x, f"{prefix}.{index}.1", c_out, (1, k), True, "relu")
            index += 2
    return x


def keras_pose_architecture(input_shape=(None, None)):
    """The network with freshly initialised weights; NHWC input ``(height, width)`` (None: any size),
    outputs ``[heatmaps (B, H/8, W/8, 19), pafs (B, H/8, W/8, 38)]``."""
    from zoo.backends.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    layers = tf.keras.layers
    specs = dict(_specs())
    image = tf.keras.Input((*input_shape, 3), name="image")
    features = _sequential(_sequential(image, "basemodel", specs["basemodel"]), "pre_stage",
                           specs["pre_stage"])
    shared1 = _sequential(features, "stage1_shared", specs["stage1_shared"])
    paf1 = _sequential(shared1, "stage1_1", specs["stage1_1"])
    heat1 = _sequential(shared1, "stage1_2", specs["stage1_2"])
    stage2 = layers.Concatenate(axis=-1, name="stage2_input")([paf1, heat1, features])
    shared2 = _sequential(stage2, "stage2_shared", specs["stage2_shared"])
    pafs = _sequential(shared2, "stage2_1", specs["stage2_1"])
    heatmaps = _sequential(shared2, "stage2_2", specs["stage2_2"])
    heatmaps = layers.Identity(name="heatmaps")(heatmaps)
    pafs = layers.Identity(name="pafs")(pafs)
    return tf.keras.Model(image, [heatmaps, pafs], name="pose_estimation")


def torch_plan() -> list[LayerWeights]:
    """Keras conv layer -> the PyTorch state_dict keys filling it (kernel, then bias where present)."""
    return [LayerWeights(name, (f"{module}.weight", f"{module}.bias") if bias else (f"{module}.weight",))
            for name, module, bias in _plan()]


def _plan() -> list[tuple[str, str, bool]]:
    """(Keras layer, PyTorch module, has bias) per conv: the walk ``_sequential`` makes over the specs."""
    plan: list[tuple[str, str, bool]] = []
    for prefix, specs in _specs():
        index = 0
        for spec in specs:
            if spec == "pool":
                index += 1
            elif spec[0] in ("conv", "final"):
                plan.append((_keras_name(f"{prefix}.{index}"), f"{prefix}.{index}", True))
                index += 2
            else:
                plan += [(_keras_name(f"{prefix}.{index}.0"), f"{prefix}.{index}.0", False),
                         (_keras_name(f"{prefix}.{index}.1"), f"{prefix}.{index}.1", True)]
                index += 2
    return plan


def load_torch_state_dict(model, state_dict, source="state_dict"):
    """Copy a zoo.families.pose.torch state_dict into the Keras model (OIHW -> HWIO); return the model.

    Refuses (CheckpointError naming the tensors, nothing assigned) a missing or unexpected key, or a
    tensor whose shape is not the PyTorch layer's.
    """
    plan = torch_plan()
    check_names(state_dict, plan, source, "pose estimation model", CHECKPOINT_FIX)
    tensors = {}
    for entry in plan:
        variables = model.get_layer(entry.layer).weights
        for name, variable in zip(entry.sources, variables):
            value = state_dict[name]
            array = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
            keras_shape = tuple(variable.shape)
            wanted = (keras_shape[3], keras_shape[2], keras_shape[0], keras_shape[1]) if len(keras_shape) == 4 \
                else keras_shape
            if tuple(array.shape) != wanted:
                raise CheckpointError(f"{source}: tensor {name} {tuple(array.shape)} does not fit Keras layer "
                                      f"{entry.layer} (the PyTorch layer holds {wanted}); {CHECKPOINT_FIX}")
            tensors[name] = array.transpose(2, 3, 1, 0) if array.ndim == 4 else array
    return assign_plan(model, plan, tensors, source, "pose estimation model", CHECKPOINT_FIX)


def build_keras_pose(checkpoint: Path | None, input_shape=(None, None)):
    """The Keras pose model with the PyTorch release's weights (``pe_weights.pth``) when given; None
    keeps Keras's initialisation."""
    model = keras_pose_architecture(input_shape)
    if checkpoint is not None:
        load_torch_state_dict(model, load_state_dict(checkpoint), checkpoint)
    return model


# ----------------------------------------------------------------------------- OpenCV's cubic resize
def _cubic_taps(src: int, dst: int, inv_scale: float):
    """Source indices [dst, 4] (border replicated) and float32 coefficients of cv2's INTER_CUBIC along one axis.

    As resizeGeneric_: ``fx = (float)((dx + 0.5) / inv_scale - 0.5)``, ``sx = floor(fx)``, taps
    sx - 1 .. sx + 2, Keys coefficients with A = -0.75 computed in float32.
    """
    scale = 1.0 / inv_scale
    f = ((np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f)
    f = (f - s).astype(np.float32)
    a, one = np.float32(-0.75), np.float32(1)
    c0 = ((a * (f + one) - np.float32(5) * a) * (f + one) + np.float32(8) * a) * (f + one) - np.float32(4) * a
    c1 = ((a + np.float32(2)) * f - (a + np.float32(3))) * f * f + one
    g = one - f
    c2 = ((a + np.float32(2)) * g - (a + np.float32(3))) * g * g + one
    c3 = one - c0 - c1 - c2
    index = np.clip(s.astype(np.int64)[:, None] + np.arange(-1, 3), 0, src - 1)
    return index, np.stack([c0, c1, c2, c3], axis=1).astype(np.float32)


def resize_cubic(image: np.ndarray, width: int, height: int, inv_scale_x: float | None = None,
                 inv_scale_y: float | None = None) -> np.ndarray:
    """``cv2.resize(image, (width, height), interpolation=INTER_CUBIC)`` for uint8 or float32 [H, W, C].

    ``inv_scale_*`` are cv2's ``fx``/``fy`` when the call passes them with ``dsize=(0, 0)``; otherwise
    dst/src. Same size is a copy, as in cv2. Horizontal then vertical pass, 4 taps each summed left
    to right in float32; uint8 results rounded half-to-even and saturated.

    float32 matches opencv-python-headless 4.10 / 5.0 to 5e-7 (outputs up to ~5). For uint8 the
    opencv-python wheels run Intel IPP's cubic resize by default (``cv2.ipp.useIPP()``), which differs
    from OpenCV's own 11-bit fixed-point path on ~4.6 % of pixels by one level; this float version
    agrees with the IPP default on ~99.94 % of pixels (the rest by one level), measured on random
    images resized to 368 rows. Which one the AIMET zoo's environment ran is not recorded.
    """
    src_h, src_w = image.shape[:2]
    if (src_h, src_w) == (height, width):
        return image.copy()
    if image.dtype not in (np.uint8, np.float32):
        raise ValueError(f"resize_cubic takes uint8 or float32, got {image.dtype}")
    x_index, x_coeffs = _cubic_taps(src_w, width, inv_scale_x or width / src_w)
    y_index, y_coeffs = _cubic_taps(src_h, height, inv_scale_y or height / src_h)
    pixels = image.astype(np.float32)
    rows = pixels[:, x_index[:, 0]] * x_coeffs[None, :, 0, None]
    for k in range(1, 4):
        rows = rows + pixels[:, x_index[:, k]] * x_coeffs[None, :, k, None]
    out = rows[y_index[:, 0]] * y_coeffs[:, 0, None, None]
    for k in range(1, 4):
        out = out + rows[y_index[:, k]] * y_coeffs[:, k, None, None]
    if image.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- preprocessing
def scaled_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of ``cv2.resize(image, (0, 0), fx=s, fy=s)`` with s = 368 / height (cv2 rounds)."""
    scale = CROP_HEIGHT / height
    return int(np.rint(width * scale)), int(np.rint(height * scale))


def padded_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the network input: the scaled size padded up to multiples of 8."""
    w, h = scaled_size(width, height)
    return -(-w // STRIDE) * STRIDE, -(-h // STRIDE) * STRIDE


def preprocess_array(image: np.ndarray) -> np.ndarray:
    """RGB uint8 [H, W, 3] -> float32 [h, w, 3] NHWC-ready input: encode_input + preprocess of the script."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    scale = CROP_HEIGHT / height
    scaled = resize_cubic(image, *scaled_size(width, height), inv_scale_x=scale, inv_scale_y=scale)
    pad_w, pad_h = padded_size(width, height)
    padded = np.full((pad_h, pad_w, 3), PAD_VALUE, np.uint8)
    padded[:scaled.shape[0], :scaled.shape[1]] = scaled
    return padded.astype(np.float32) / np.float32(256) - np.float32(0.5)


def preprocess(image):
    """PIL image (or RGB uint8 array) -> [3, h, w] float tensor (the suite's datasets yield CHW; the
    Keras runner transposes batches back to NHWC)."""
    import torch

    array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    return torch.from_numpy(np.ascontiguousarray(preprocess_array(array).transpose(2, 0, 1)))


# ----------------------------------------------------------------------------- decoding
def upsample_outputs(heatmaps: np.ndarray, pafs: np.ndarray, height: int, width: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """One image's NHWC outputs ([h, w, 19], [h, w, 38]) -> full-resolution [height, width, C] each:
    the script's decode_output (cubic x8, crop the padding, cubic to the image size)."""
    valid_w, valid_h = scaled_size(width, height)

    def decode(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        up = resize_cubic(x, x.shape[1] * STRIDE, x.shape[0] * STRIDE, inv_scale_x=STRIDE, inv_scale_y=STRIDE)
        return resize_cubic(np.ascontiguousarray(up[:valid_h, :valid_w]), width, height)

    return decode(heatmaps), decode(pafs)


def decode_coco_keypoints(heatmaps: np.ndarray, pafs: np.ndarray, image_id: int, height: int, width: int
                          ) -> list[dict]:
    """The Keras outputs for one image (NHWC, batch dim optional) -> its COCO keypoint results."""
    heatmaps = heatmaps[0] if heatmaps.ndim == 4 else heatmaps
    pafs = pafs[0] if pafs.ndim == 4 else pafs
    heatmap, paf = upsample_outputs(heatmaps, pafs, height, width)
    skeletons, peaks = decode_skeletons(heatmap, paf)
    return skeletons_to_coco(image_id, skeletons, peaks)


def reduce(outputs, targets) -> list:
    """A batch's outputs ``(heatmaps [B, h, w, 19], pafs [B, h, w, 38])`` (NHWC, as KerasBackend and
    the exported ONNX graph return them) and targets (``.height``, ``.width``) -> per image
    ``zoo.tasks.pose.people_arrays``."""
    from zoo.tasks.pose import people_arrays

    heatmaps, pafs = outputs
    return [people_arrays(decode_coco_keypoints(h, p, 0, target.height, target.width))
            for h, p, target in zip(np.asarray(heatmaps), np.asarray(pafs), targets)]


# ---- the AIMET zoo's TF release: a TF1 meta graph (zoo/backends/tf_graph.py), same network
POSE_INPUT = "input:0"
POSE_OUTPUTS = ("node184:0", "node196:0")  # the release's fetch order: PAFs, heatmaps
POSE_ORDER = (1, 0)                        # -> [heatmaps, pafs], as build_keras_pose


def build_tf_pose_release(checkpoint: Path) -> MetaGraphModel:
    """The AIMET zoo's ``pose_estimation_tensorflow`` release: ``checkpoint`` is its ``pose_estimation.meta``
    (the checkpoint files beside it), or the folder holding it. Outputs ``[heatmaps, pafs]`` (NHWC)."""
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        checkpoint = checkpoint / "pose_estimation.meta"
    return MetaGraphModel(checkpoint, POSE_INPUT, POSE_OUTPUTS, POSE_ORDER, name="pose_estimation")


def build_keras_pose_or_seeded(checkpoint: Path | None):
    """With no checkpoint, the PyTorch pose model's seeded initialisation converted to Keras: Keras's own
    initialisation leaves this 6-stage network's outputs near zero (output SQNR 7.5 dB at W8A8, vs 46.6 dB
    for the same recipe on PyTorch's initialisation)."""
    if checkpoint is not None:
        return build_keras_pose(checkpoint)
    return load_torch_state_dict(build_keras_pose(None), build_pose(None).state_dict(),
                                 "seeded zoo.families.pose.torch.PoseModel")


MODELS = (
    # the AIMET zoo's TF pose script (evaluate_session, fast=False): height 368, cubic, pad to 8, x/256 - 0.5;
    # the Keras port loads the PyTorch release's state_dict (same network), the TF release loads as a graph
    ModelSpec("tf_pose_release", build_tf_pose_release, preprocess, None, reduce),
    ModelSpec("keras_pose", build_keras_pose_or_seeded, preprocess, None, reduce),
)
