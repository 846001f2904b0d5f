"""Keras port of the AIMET zoo's TensorFlow pose estimation model (zoo.families.pose.keras): the same
outputs as the PyTorch model (zoo.families.pose.torch) on the same weights, the checked PyTorch -> Keras
converter, the ONNX export the recipe quantizes, and the TF script's preprocessing and decoding.

There is no TF-checkpoint converter to test: no public source names the release's variables (see the
module docstring).
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest

from zoo.availability import missing_modules

_MISSING = missing_modules("tensorflow")
pytestmark = [
    pytest.mark.skipif(bool(_MISSING), reason=f"TensorFlow half not installed ({', '.join(_MISSING)} missing): "
                                              "pip install -e . (they are dependencies)"),
    pytest.mark.xdist_group("keras_pose"),
]

INPUT_HW = (96, 128)  # small, multiple of 8: output 12 x 16
# measured on CPU (x86_64 AVX2, tensorflow-cpu 2.21, torch, onnxruntime): Keras vs PyTorch 1.4e-5 (heatmaps
# 9.1e-6), ONNX vs Keras 7.9e-6 (heatmaps 4.9e-6), outputs up to 3.8 (weights from synthetic_state_dict)
TORCH_MATCH_MAX_ABS = 1e-4
ONNX_MATCH_MAX_ABS = 1e-4


def synthetic_state_dict() -> dict:
    """Deterministic weights (a function of each key and shape) for the PyTorch PoseModel: He-normal for
    convs followed by a ReLU, variance 1 / fan_in for the bias-free first conv of each factorised pair
    (no ReLU between the pair), small biases: activations stay O(1-100) through the 62 convs."""
    import torch

    from zoo.families.pose.torch import PoseModel

    state, own = {}, PoseModel().state_dict()
    for name, tensor in own.items():
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        shape = tuple(tensor.shape)
        if name.endswith(".weight"):
            gain = 2.0 if name.replace(".weight", ".bias") in own else 1.0
            values = rng.normal(0.0, np.sqrt(gain / int(np.prod(shape[1:]))), shape)
        else:
            values = rng.normal(0.0, 0.05, shape)
        state[name] = torch.from_numpy(values.astype(np.float32))
    return state


def reference_input() -> np.ndarray:
    """One NHWC image in the model's input range (x / 256 - 0.5)."""
    return np.random.default_rng(7).uniform(-0.5, 0.5, (1, *INPUT_HW, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def state_dict() -> dict:
    return synthetic_state_dict()


@pytest.fixture(scope="module")
def keras_model(state_dict):
    from zoo.families.pose.keras import keras_pose_architecture, load_torch_state_dict

    return load_torch_state_dict(keras_pose_architecture(), state_dict)


@pytest.fixture(scope="module")
def keras_outputs(keras_model) -> list[np.ndarray]:
    return [np.asarray(o) for o in keras_model(reference_input(), training=False)]


def test_keras_matches_pytorch_model(state_dict, keras_outputs):
    """Same weights, same input: the Keras outputs [heatmaps, pafs] (NHWC) are PoseModel's (NCHW)."""
    import torch

    from zoo.families.pose.torch import PoseModel

    model = PoseModel().eval()
    model.load_state_dict(state_dict)
    with torch.no_grad():
        heatmaps, pafs = model(torch.from_numpy(reference_input().transpose(0, 3, 1, 2)))
    expected = [heatmaps.numpy().transpose(0, 2, 3, 1), pafs.numpy().transpose(0, 2, 3, 1)]
    assert [o.shape for o in keras_outputs] == [(1, 12, 16, 19), (1, 12, 16, 38)]
    assert_pose_outputs_match(keras_outputs, expected, TORCH_MATCH_MAX_ABS, "Keras vs PyTorch")


def assert_pose_outputs_match(outputs, expected, tolerance: float, label: str) -> None:
    """[heatmaps, pafs] agree within ``tolerance`` on outputs large enough not to compare trivially."""
    diffs = [float(np.abs(o - e).max()) for o, e in zip(outputs, expected)]
    scale = max(float(np.abs(e).max()) for e in expected)
    print(f"{label} max abs diff heatmaps {diffs[0]:.2e}, pafs {diffs[1]:.2e} (outputs up to {scale:.2f})")
    assert scale > 0.1, "degenerate test weights: outputs near zero compare trivially"
    assert max(diffs) < tolerance


def test_plan_covers_the_pytorch_state_dict(keras_model, state_dict):
    from zoo.families.pose.keras import torch_plan

    plan = torch_plan()
    assert sorted(n for e in plan for n in e.sources) == sorted(state_dict)  # 98 tensors: 26 factorised pairs (3 each) + 10 convs (2 each)
    assert len(plan) == 62 and len(state_dict) == 98
    keras_convs = [layer.name for layer in keras_model.layers if layer.__class__.__name__ == "Conv2D"]
    assert sorted(keras_convs) == sorted(e.layer for e in plan)
    assert keras_model.count_params() == sum(int(np.prod(t.shape)) for t in state_dict.values())


def assert_refused(state_dict, match: str):
    from zoo.checkpoints import CheckpointError
    from zoo.families.pose.keras import keras_pose_architecture, load_torch_state_dict

    model = keras_pose_architecture()
    before = [w.copy() for w in model.get_layer("stage2_2_8").get_weights()]
    with pytest.raises(CheckpointError, match=match):
        load_torch_state_dict(model, state_dict, "pe_weights.pth")
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_layer("stage2_2_8").get_weights())), \
        "a refused state_dict must leave the model untouched"


def test_converter_refuses_missing_tensor(state_dict):
    broken = {k: v for k, v in state_dict.items() if k != "stage2_2.8.bias"}
    assert_refused(broken, r"missing \['stage2_2\.8\.bias'\]")


def test_converter_refuses_extra_tensor(state_dict):
    import torch

    assert_refused({**state_dict, "stage3_1.0.weight": torch.zeros(1)}, r"unexpected \['stage3_1\.0\.weight'\]")


def test_converter_refuses_misshaped_tensor(state_dict):
    import torch

    broken = dict(state_dict)
    broken["stage2_2.8.weight"] = torch.zeros(18, 128, 1, 1)  # 18 heatmaps instead of 19
    assert_refused(broken, r"tensor stage2_2\.8\.weight \(18, 128, 1, 1\) does not fit Keras layer stage2_2_8 "
                     r"\(the PyTorch layer holds \(19, 128, 1, 1\)\)")


def test_build_loads_a_saved_state_dict(tmp_path, state_dict, keras_outputs):
    """build_keras_pose reads a .pth (tensors only) and gives the same outputs as the in-memory conversion."""
    import torch

    from zoo.families.pose.keras import build_keras_pose

    torch.save(state_dict, tmp_path / "pe_weights.pth")
    model = build_keras_pose(tmp_path / "pe_weights.pth")
    out = model(reference_input(), training=False)
    assert all(np.array_equal(np.asarray(a), b) for a, b in zip(out, keras_outputs))


def test_onnx_export_reproduces_keras(keras_model, keras_outputs):
    """keras_to_onnx with dynamic height/width (NCHW input; outputs keep NHWC, heatmaps first)."""
    import onnxruntime as ort

    from zoo.backends.onnx_export import keras_to_onnx

    model = keras_to_onnx(keras_model, None)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: reference_input().transpose(0, 3, 1, 2)})
    diffs = [float(np.abs(o - k).max()) for o, k in zip(outputs, keras_outputs)]
    ops = [node.op_type for node in model.graph.node]
    print(f"ONNX vs Keras max abs diff heatmaps {diffs[0]:.2e}, pafs {diffs[1]:.2e}; ops {sorted(set(ops))}")
    assert [o.shape for o in outputs] == [(1, 12, 16, 19), (1, 12, 16, 38)]
    assert max(diffs) < ONNX_MATCH_MAX_ABS
    assert ops.count("Conv") == 62 and ops.count("MaxPool") == 3 and ops.count("Concat") == 1


# ----------------------------------------------------------------------------- preprocessing / decoding
def test_preprocess_scales_to_368_high_and_pads_to_stride():
    from zoo.families.pose.keras import padded_size, preprocess, scaled_size

    image = np.random.default_rng(1).integers(0, 256, (480, 641, 3), dtype=np.uint8)
    x = preprocess(image)
    assert scaled_size(641, 480) == (491, 368) and padded_size(641, 480) == (496, 368)
    assert tuple(x.shape) == (3, 368, 496)
    assert float(x[:, :, 491:].abs().max()) == 0.0, "the 128 padding becomes 0 after x / 256 - 0.5"
    assert float(x.min()) >= -0.5 and float(x.max()) <= 255 / 256 - 0.5


# cv2.resize(..., interpolation=cv2.INTER_CUBIC) of the arrays below, recorded with opencv-python-headless
# 4.10.0.84 (IPP on, its default): a 2 x 3 float map upsampled x8 (fx=fy=8; every 5th row and column
# kept) and a 3 x 4 uint8 image resized to 7 x 5
CUBIC_FLOAT_SOURCE = np.array([[0.0, 1.0, -0.5], [2.0, 0.25, 1.5]], np.float32)
CUBIC_FLOAT_X8_EVERY_5TH = np.array([[-0.341104, 0.04104267, 1.0331894, 0.4438999, -0.78120226],
                                     [0.27030823, 0.43988955, 0.88468266, 0.4830829, -0.21585925],
                                     [1.8075573, 1.4426941, 0.5112981, 0.5815991, 1.2055597],
                                     [2.4189694, 1.841541, 0.36279136, 0.6207821, 1.7709026]], np.float32)
CUBIC_UINT8_SOURCE = np.array([[0, 40, 200, 255], [90, 10, 250, 30], [255, 0, 128, 64]], np.uint8)
CUBIC_UINT8_7X5 = np.array([[0, 0, 33, 116, 207, 255, 255], [23, 13, 19, 135, 234, 199, 159],
                            [98, 48, 3, 143, 248, 120, 8], [217, 120, 5, 86, 179, 95, 20],
                            [255, 171, 9, 37, 119, 91, 62]], np.uint8)


def test_resize_cubic_matches_recorded_opencv():
    """float32: cv2's values to float precision (measured 2.4e-7); uint8: within one level of cv2's IPP
    path (2 of these 35 pixels differ by one; ~0.06 % of pixels on photo-sized resizes)."""
    from zoo.families.pose.keras import resize_cubic

    up = resize_cubic(CUBIC_FLOAT_SOURCE[:, :, None], 24, 16, 8, 8)[:, :, 0]
    assert up.shape == (16, 24)
    assert np.abs(up[::5, ::5] - CUBIC_FLOAT_X8_EVERY_5TH).max() < 1e-6
    small = resize_cubic(CUBIC_UINT8_SOURCE[:, :, None], 7, 5)[:, :, 0]
    diff = np.abs(small.astype(int) - CUBIC_UINT8_7X5)
    assert diff.max() <= 1 and (diff > 0).sum() <= 2
    assert np.array_equal(resize_cubic(np.full((6, 8, 3), 77, np.uint8), 13, 9), np.full((9, 13, 3), 77, np.uint8))


def test_reduce_decodes_synthetic_maps_to_one_person():
    """Heatmap peaks for 18 parts and PAFs along the limbs between them, at the network's output
    resolution, decode to one COCO person near the drawn coordinates (image coordinates)."""
    from zoo.families.pose.keras import STRIDE, padded_size, reduce, scaled_size
    from zoo.families.pose.torch import LIMB_PAF_CHANNELS, LIMBS, OPENPOSE_TO_COCO

    class Target:
        height, width = 240, 320

    pad_w, pad_h = padded_size(Target.width, Target.height)
    h, w = pad_h // STRIDE, pad_w // STRIDE
    sw, sh = scaled_size(Target.width, Target.height)
    scale = sh / Target.height
    rng = np.random.default_rng(3)
    parts = np.column_stack([rng.uniform(60, 260, 18), rng.uniform(40, 200, 18)])  # image (x, y)
    ys, xs = np.mgrid[0:h, 0:w]
    heat = np.zeros((h, w, 19), np.float32)
    paf = np.zeros((h, w, 38), np.float32)
    grid = lambda p: (p * scale + 0.5) / STRIDE - 0.5  # noqa: E731 (image -> output-grid coordinates)
    for part, (px, py) in enumerate(parts):
        gx, gy = grid(np.array([px, py]))
        heat[:, :, part] = np.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * 0.8 ** 2))
    for (a, b), (cx, cy) in zip(LIMBS, LIMB_PAF_CHANNELS):
        (ax, ay), (bx, by) = grid(parts[a]), grid(parts[b])
        d = np.array([bx - ax, by - ay])
        unit = d / np.linalg.norm(d)
        t = np.clip(((xs - ax) * unit[0] + (ys - ay) * unit[1]) / np.linalg.norm(d), 0, 1)
        near = np.hypot(xs - (ax + t * d[0]), ys - (ay + t * d[1])) < 1.5
        paf[:, :, cx] += near * unit[0]
        paf[:, :, cy] += near * unit[1]
    keypoints, scores = reduce((heat[None], paf[None]), [Target()])[0]
    assert keypoints.shape == (1, 51) and scores.shape == (1,)
    found = keypoints[0].reshape(17, 3)
    for part in range(18):
        if OPENPOSE_TO_COCO[part] >= 0:
            x, y, v = found[OPENPOSE_TO_COCO[part]]
            assert v == 1 and abs(x - parts[part][0]) < 3 and abs(y - parts[part][1]) < 3, (part, found)
