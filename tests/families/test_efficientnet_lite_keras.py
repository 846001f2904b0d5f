"""The TensorFlow half: Keras EfficientNet-Lite0 on the wheel's weights, exported to ONNX
and quantized with aimet-onnx (zoo/recipes/onnx_ptq.py).

(a) the weight converter refuses a wrong key or shape and names the key; (b) Keras and torch give the
same FP32 logits on the embedded photos from the same checkpoint; (c) the ONNX export reproduces the
Keras logits; (d) the QDQ ONNX model run on plain onnxruntime reproduces the simulated quantized logits.
"""
from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest

from zoo.availability import missing_modules

_MISSING = missing_modules("tensorflow")
pytestmark = pytest.mark.skipif(
    bool(_MISSING), reason=f"TensorFlow half not installed ({', '.join(_MISSING)} missing): "
                           f"pip install -e . (they are dependencies)")

CASE_ID = "pt_efficientnet_lite0.w8a8.photos"  # same checkpoint, photos and preprocessing as TF_CASE_ID
TF_CASE_ID = "tf_efficientnet_lite0.w8a8.photos"
# measured on CPU (x86_64 AVX2, tensorflow-cpu 2.21, torch 2.14.1, onnxruntime 1.32, aimet-onnx 2.42):
# Keras vs torch max abs 6.2e-6, ONNX vs Keras 6.6e-6 (logits up to 11.4)
FP32_CROSS_FRAMEWORK_MAX_ABS = 5e-5
ONNX_EXPORT_MAX_ABS = 5e-5
QDQ_VS_SIM_MIN_SQNR_DB = 20.0  # measured 26.0-26.3 dB
QDQ_CLEAR_MARGIN_STEPS = 3  # top-1 must agree where the sim's top-2 margin exceeds this many output steps


@pytest.fixture(scope="module")
def checkpoint():
    from zoo.availability import Roots, locate_checkpoint
    from zoo.catalog import REGISTRY
    from zoo.checkpoints import verify

    spec = REGISTRY[CASE_ID].checkpoint
    path = locate_checkpoint(spec, Roots(None, None))
    verify(path, spec)
    return path


@pytest.fixture(scope="module")
def photos():
    """The 8 embedded photos as one NCHW batch, preprocessed as the TF-ported weights expect."""
    import torch

    from zoo.data.embedded.photos import PhotoSet
    from zoo.catalog import MODELS

    dataset = PhotoSet(MODELS["timm_tf_efficientnet_lite0"].preprocess)
    return dataset, torch.stack([dataset[i][0] for i in range(len(dataset))])


@pytest.fixture(scope="module")
def keras_model(checkpoint):
    from zoo.families.efficientnet_lite.keras import keras_efficientnet_lite0

    return keras_efficientnet_lite0(checkpoint)


@pytest.fixture(scope="module")
def keras_logits(keras_model, photos):
    from zoo.backends.keras import to_nhwc

    return keras_model(to_nhwc(photos[1].numpy()), training=False).numpy()


@pytest.fixture(scope="module")
def onnx_model(keras_model):
    from zoo.backends.onnx_export import keras_to_onnx

    return keras_to_onnx(keras_model, 224)


@pytest.fixture(scope="module")
def quantized(onnx_model, photos, tmp_path_factory):
    """The TF case's recipe on 8 calibration crops, plus bias correction, which aimet-onnx lacks."""
    from zoo.catalog import REGISTRY
    from zoo.recipes.onnx_ptq import quantize

    recipe = dataclasses.replace(REGISTRY[TF_CASE_ID].recipe, techniques=("bn_fold", "bias_correction"),
                                 calibration_images=8)
    calibration = photos[0].calibration_images(recipe.calibration_images, recipe.seed)
    return quantize(onnx_model, recipe, calibration, tmp_path_factory.mktemp("onnx_ptq"))


def _run_onnx(model, images: np.ndarray, float_qdq: bool = False) -> np.ndarray:
    """Run ``model`` on plain onnxruntime (CPU). ``float_qdq`` keeps Quantize/DequantizeLinear as float ops.

    By default onnxruntime fuses QDQ pairs into integer kernels (QLinearConv); on x86 CPUs without
    VNNI its u8s8 kernels saturate 16-bit intermediates (a documented onnxruntime limitation), which
    measures the kernel, not the exported encodings, so the QDQ-vs-sim check switches the fusion off.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if float_qdq:
        options.add_session_config_entry("session.disable_quant_qdq", "1")
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: images.astype(np.float32)})[0]


# ------------------------------------------------------------------ (a) the converter refuses bad weights
@pytest.fixture(scope="module")
def state_dict(checkpoint):
    from zoo.checkpoints import load_state_dict

    return load_state_dict(checkpoint)


@pytest.fixture(scope="module")
def blank_model():
    from zoo.families.efficientnet_lite.keras import build_keras_lite0

    return build_keras_lite0()


def test_converter_names_a_missing_key(state_dict, blank_model):
    from zoo.checkpoints import CheckpointError
    from zoo.families.efficientnet_lite.keras import load_torch_state_dict

    broken = {k: v for k, v in state_dict.items() if k != "_blocks.7._bn1.running_var"}
    with pytest.raises(CheckpointError, match=r"missing \['_blocks\.7\._bn1\.running_var'\]"):
        load_torch_state_dict(blank_model, broken, "broken.pth")


def test_converter_names_an_unexpected_key(state_dict, blank_model):
    from zoo.checkpoints import CheckpointError
    from zoo.families.efficientnet_lite.keras import load_torch_state_dict

    broken = {**state_dict, "_blocks.16._expand_conv.weight": state_dict["_blocks.15._expand_conv.weight"]}
    with pytest.raises(CheckpointError, match=r"unexpected \['_blocks\.16\._expand_conv\.weight'\]"):
        load_torch_state_dict(blank_model, broken, "broken.pth")


def test_converter_names_a_shape_mismatch(state_dict, blank_model):
    from zoo.checkpoints import CheckpointError
    from zoo.families.efficientnet_lite.keras import load_torch_state_dict

    before = [w.copy() for w in blank_model.get_layer("conv_stem").get_weights()]  # a layer mapped before the bad one
    wrong = state_dict["_blocks.3._project_conv.weight"][:, :-1]  # (40, 143, 1, 1) instead of (40, 144, 1, 1)
    broken = {**state_dict, "_blocks.3._project_conv.weight": wrong}
    with pytest.raises(CheckpointError,
                       match=r"_blocks\.3\._project_conv\.weight \(40, 143, 1, 1\).*blocks_3_project_conv"):
        load_torch_state_dict(blank_model, broken, "broken.pth")
    after = blank_model.get_layer("conv_stem").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after)), "a refused checkpoint must leave the model as is"


# ------------------------------------------------------------------ (b) FP32: Keras vs torch, same weights
def test_fp32_keras_matches_torch(checkpoint, photos, keras_logits):
    import torch

    from zoo.metrics.classification import sqnr_db
    from zoo.catalog import MODELS

    with torch.no_grad():
        torch_logits = MODELS["timm_tf_efficientnet_lite0"].build(checkpoint).eval()(photos[1]).numpy()
    diff = float(np.abs(keras_logits - torch_logits).max())
    print(f"Keras vs torch FP32 logits: max abs diff {diff:.2e}, SQNR {sqnr_db(torch_logits, keras_logits):.1f} dB")
    assert diff < FP32_CROSS_FRAMEWORK_MAX_ABS
    assert (keras_logits.argmax(1) == torch_logits.argmax(1)).all()


# ------------------------------------------------------------------ (c) the ONNX export
def test_onnx_export_reproduces_keras(onnx_model, photos, keras_logits):
    onnx_logits = _run_onnx(onnx_model, photos[1].numpy())
    diff = float(np.abs(onnx_logits - keras_logits).max())
    print(f"ONNX (BN folded) vs Keras FP32 logits: max abs diff {diff:.2e}")
    assert diff < ONNX_EXPORT_MAX_ABS
    assert (onnx_logits.argmax(1) == keras_logits.argmax(1)).all()


def test_onnx_export_folds_batchnorm_exposes_relu6_and_has_stable_names(onnx_model):
    import re

    ops = [node.op_type for node in onnx_model.graph.node]
    assert "BatchNormalization" not in ops, "BN must be folded before the sim (see zoo/backends/onnx_export.py)"
    initializers = {i.name for i in onnx_model.graph.initializer}
    clips = [node for node in onnx_model.graph.node if node.op_type == "Clip"]
    assert len(clips) == 33, "every ReLU6 of Lite0 (1 stem + 15 expand + 16 depthwise + 1 head) is a Clip"
    assert not any(name in initializers for node in clips for name in node.input[1:]), \
        "Clip min/max must be Constant nodes, or aimet-onnx's CLE does not see ReLU6"
    names = [n for node in onnx_model.graph.node for n in (node.name, *node.input, *node.output)]
    assert not [n for n in names if re.search(r"__\d+", n)], \
        "per-process tf2onnx counters in names make quantizer names and the encodings digest unstable"


# ------------------------------------------------------------------ (d) QDQ export vs the simulation
def test_qdq_model_reproduces_the_simulation(quantized, photos):
    """The exported QDQ model is the simulated model, up to 1-LSB rounding flips that compound over 50 layers.

    The sim's quantizer and onnxruntime's QuantizeLinear round a few near-tie values differently
    (measured: the first differences are single 1-LSB flips in the stem output); logits are on the
    output quantizer's grid, so photos whose top-2 logits lie within a few grid steps can swap.
    """
    from zoo.metrics.classification import sqnr_db, top1_agreement

    images = photos[1].numpy()
    sim_logits = quantized.run(images)
    qdq_logits = _run_onnx(quantized.qdq_model, images, float_qdq=True)
    sqnr = sqnr_db(sim_logits, qdq_logits)
    step = float(np.diff(np.unique(sim_logits)).min())  # the output quantizer's grid step
    top2 = np.sort(sim_logits, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > QDQ_CLEAR_MARGIN_STEPS * step
    print(f"QDQ ONNX vs aimet-onnx sim logits: SQNR {sqnr:.1f} dB, max abs diff "
          f"{float(np.abs(qdq_logits - sim_logits).max()):.2e} (output step {step:.3f}), top-1 agreement "
          f"{top1_agreement(sim_logits, qdq_logits):.1f}%, {int(clear.sum())}/{len(clear)} photos with a clear top-1")
    assert sqnr > QDQ_VS_SIM_MIN_SQNR_DB
    assert clear.sum() >= len(clear) - 2, "most photos must have an unambiguous top-1 for this check to mean anything"
    assert (sim_logits.argmax(1) == qdq_logits.argmax(1))[clear].all()


def test_quantized_result_records_the_recipe(quantized):
    assert quantized.applied == ["bn_fold"]
    assert quantized.config_file == "default_config_per_channel.json"
    assert "aimet-onnx" in quantized.backend and "tf2onnx" in quantized.backend
    assert len(quantized.encodings_sha256) == 64


def test_bias_correction_is_reported_unavailable(quantized):
    assert "bias_correction" in quantized.unavailable and "bias_correction" not in quantized.applied


# ------------------------------------------------------------------ backend detection
@pytest.fixture
def fresh_aimet_tensorflow(monkeypatch, tmp_path):
    """A directory on sys.path for package layouts under test; aimet_tensorflow unloaded before and after."""
    import sys

    for name in [m for m in sys.modules if m.split(".")[0] == "aimet_tensorflow"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.split(".")[0] == "aimet_tensorflow"]:
        del sys.modules[name]
    importlib.invalidate_caches()


def test_backend_is_aimet_onnx_via_tf2onnx():
    from importlib.metadata import version

    from zoo.recipes.onnx_ptq import backend, real_aimet_tensorflow

    if real_aimet_tensorflow() is None:
        assert backend() == f"aimet-onnx {version('aimet-onnx')} via tf2onnx"
    else:
        assert "detected, but only the ONNX route is implemented" in backend()


def test_placeholder_aimet_tensorflow_is_not_a_backend(fresh_aimet_tensorflow):
    """PyPI's aimet-tensorflow 0.0.1 ships only ``aimet-tensorflow/{__init__,main}.py`` (not importable)."""
    from zoo.recipes.onnx_ptq import real_aimet_tensorflow

    (fresh_aimet_tensorflow / "aimet-tensorflow").mkdir()
    (fresh_aimet_tensorflow / "aimet-tensorflow" / "__init__.py").write_text("")
    (fresh_aimet_tensorflow / "aimet_tensorflow").mkdir()  # even an importable empty package is not enough
    (fresh_aimet_tensorflow / "aimet_tensorflow" / "__init__.py").write_text("")
    importlib.invalidate_caches()
    assert real_aimet_tensorflow() is None


def test_aimet_tensorflow_with_a_keras_api_is_detected(fresh_aimet_tensorflow):
    from zoo.recipes.onnx_ptq import backend, real_aimet_tensorflow

    package = fresh_aimet_tensorflow / "aimet_tensorflow"
    (package / "keras").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "keras" / "__init__.py").write_text("")
    importlib.invalidate_caches()
    assert real_aimet_tensorflow() is not None
    assert "aimet-tensorflow" in backend() and "only the ONNX route is implemented" in backend()
