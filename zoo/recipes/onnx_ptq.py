"""Post-training quantization of an ONNX model with aimet-onnx, driven by a Recipe: the TensorFlow half's recipe.

PyPI's ``aimet-tensorflow`` is a 0.0.1 placeholder with no code, so the Keras backend exports the model
to ONNX first (zoo/backends/onnx_export.py: tf2onnx, BatchNorms folded by onnxruntime), and this module
runs ``aimet-onnx`` on it (CLE, AdaRound, quantsim, QDQ export). This module and torch_ptq.py are the
only code importing aimet_*.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from zoo.devices import onnxruntime_threads
from zoo.recipes import aimet_common

TECHNIQUES = ("bn_fold", "cle", "bias_correction", "adaround", "qat")
UNAVAILABLE = {"bias_correction": "aimet-onnx 2.42 ships no bias correction (and aimet-tensorflow on PyPI is a "
                                  "0.0.1 placeholder with no code)",
               "qat": "aimet-onnx 2.42 has no quantization-aware training (its sim runs in onnxruntime, which does "
                      "not train), and aimet-tensorflow on PyPI is a 0.0.1 placeholder; the recipe runs without it"}


class RecipeError(Exception):
    """The ONNX model cannot be quantized as the recipe says (e.g. a BatchNorm that does not fold)."""


@dataclass
class OnnxQuantized:
    """The quantization-simulated ONNX model and what was done to get it."""

    sim: object
    input_name: str
    backend: str
    applied: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    config_file: str = ""
    encodings_sha256: str = ""
    quantizers: list[dict] = field(default_factory=list)  # aimet_common.quantizer_record per quantizer
    _qdq: object = None

    def run(self, images, batch_size: int = 8) -> np.ndarray:
        """Logits of the simulated quantized model for a batch in the ONNX model's input layout."""
        return self.run_all(images, batch_size)[0]

    def run_all(self, images, batch_size: int = 8) -> list[np.ndarray]:
        """Every output of the simulated quantized model, batch axis first."""
        images = as_batch(images)
        chunks = [self.sim.session.run(None, {self.input_name: images[i:i + batch_size]})
                  for i in range(0, len(images), batch_size)]
        return [np.concatenate(outputs) for outputs in zip(*chunks)]

    @property
    def qdq_model(self):
        """The deployable model: ``sim.to_onnx_qdq()`` (QuantizeLinear/DequantizeLinear, plain onnxruntime)."""
        if self._qdq is None:
            self._qdq = self.sim.to_onnx_qdq()
        return self._qdq


# ----------------------------------------------------------------------------- backend detection
def real_aimet_tensorflow() -> str | None:
    """The version of an installed aimet-tensorflow that has code (Keras API or quantsim), else None.

    PyPI's aimet-tensorflow 0.0.1 is a placeholder: it installs no importable quantization API.
    """
    try:
        found = importlib.util.find_spec("aimet_tensorflow") is not None and any(
            importlib.util.find_spec(f"aimet_tensorflow.{sub}") is not None for sub in ("keras", "quantsim"))
    except (ImportError, ValueError):
        found = False
    if not found:
        return None
    try:
        return version("aimet-tensorflow")
    except PackageNotFoundError:
        return "unknown version"


def backend() -> str:
    """The name of the backend this module quantizes with, as recorded in result rows."""
    name = f"aimet-onnx {version('aimet-onnx')} via tf2onnx"
    real = real_aimet_tensorflow()
    if real is not None:
        name += f" (aimet-tensorflow {real} detected, but only the ONNX route is implemented)"
    return name


def aimet_version() -> str:
    return version("aimet-onnx")


def _quiet_aimet() -> None:
    aimet_common.quiet("aimet_onnx")


def _quant_scheme(name: str):
    return aimet_common.quant_scheme("aimet_onnx", name)


def config_file(per_channel: bool) -> str:
    return aimet_common.config_file("aimet_onnx", per_channel)


def as_batch(images) -> np.ndarray:
    """A list of images (torch tensors or arrays) or one batch -> one contiguous float32 array."""
    if isinstance(images, (list, tuple)):
        images = np.stack([np.asarray(i) for i in images])
    return np.ascontiguousarray(np.asarray(images, dtype=np.float32))


def _input_shape(model) -> list:
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else None for d in dims]


def calibration_inputs(model, images, batch_size: int) -> list[dict[str, np.ndarray]]:
    """Batches of ``images`` as aimet-onnx input dicts, checked against the model's input layout."""
    batch = as_batch(images)
    expected = _input_shape(model)
    if batch.ndim != len(expected) or any(e not in (None, f) for e, f in zip(expected[1:], batch.shape[1:])):
        raise ValueError(f"calibration images of shape {batch.shape[1:]} do not fit the ONNX input "
                         f"{model.graph.input[0].name} {expected[1:]}; export with keras_to_onnx(nchw=...) "
                         f"matching the images' layout")
    name = model.graph.input[0].name
    return [{name: batch[i:i + batch_size]} for i in range(0, len(batch), batch_size)]


def _fold_batchnorms(model) -> str:
    """BN fold: done by the export's onnxruntime pass; anything left is folded by aimet-onnx."""
    from aimet_onnx.batch_norm_fold import fold_all_batch_norms_to_weight

    if any(n.op_type == "BatchNormalization" for n in model.graph.node):
        fold_all_batch_norms_to_weight(model)
    left = sum(n.op_type == "BatchNormalization" for n in model.graph.node)
    if left:
        raise RecipeError(f"{left} BatchNormalization nodes could not be folded; the sim would not represent "
                          f"the deployed model (see keras_to_onnx in zoo/backends/onnx_export.py)")
    return "bn_fold"


def encodings_digest(sim) -> str:
    """sha256 over every quantizer's encodings and the (AdaRound-updated) quantized parameters."""
    from onnx import numpy_helper

    digest = hashlib.sha256()
    for name in sorted(sim.qc_quantize_op_dict):
        encoding = sim.qc_quantize_op_dict[name].export_encodings("1.0.0")
        digest.update(name.encode() + json.dumps(encoding, sort_keys=True, default=str).encode())
    params = set(sim.param_names)
    for init in sorted(sim.model.model.graph.initializer, key=lambda i: i.name):
        if init.name in params:
            digest.update(init.name.encode() + numpy_helper.to_array(init).tobytes())
    return digest.hexdigest()


def tensor_ops(model) -> dict[str, tuple[str, str]]:
    """tensor name -> (node name, op type) of the node producing it, or for an initializer, consuming it."""
    ops = {}
    for node in model.graph.node:
        for name in node.input:
            ops.setdefault(name, (node.name, node.op_type))
    for node in model.graph.node:
        for name in node.output:
            ops[name] = (node.name, node.op_type)
    return ops


def _scale_offset(encoding) -> tuple[list | None, list | None]:
    """``export_encodings('1.0.0')``: a dict with per-channel lists (aimet-onnx 2.42) or a list of per-channel
    dicts (older releases)."""
    if not encoding:
        return None, None
    if isinstance(encoding, dict):
        return list(encoding["scale"]), list(encoding["offset"])
    return [e["scale"] for e in encoding], [e["offset"] for e in encoding]


def quantizer_table(sim, model) -> list[dict]:
    """Every enabled quantizer of the sim with its encodings; activations are named by their tensor."""
    ops, params = tensor_ops(model), set(sim.param_names)
    records = []
    for name in sorted(sim.qc_quantize_op_dict):
        op = sim.qc_quantize_op_dict[name]
        if not op.enabled:
            continue
        node, op_type = ops.get(name, (name, "?"))
        scale, offset = _scale_offset(op.export_encodings("1.0.0"))
        records.append(aimet_common.quantizer_record(name, node, op_type, "param" if name in params else "activation",
                                                     op.bitwidth, op.use_symmetric_encodings, scale, offset))
    return records


def quantize(onnx_model, recipe, calibration, workdir: Path) -> OnnxQuantized:
    """Apply ``recipe`` to a copy of ``onnx_model`` with aimet-onnx; return the simulated model.

    ``calibration`` holds images in the ONNX model's input layout (NCHW for keras_to_onnx's default).
    """
    import onnx
    import torch
    from aimet_onnx import QuantizationSimModel, apply_adaround
    from aimet_onnx.cross_layer_equalization import equalize_model

    unknown = set(recipe.techniques) - set(TECHNIQUES)
    if unknown:
        raise ValueError(f"recipe {recipe.name}: unknown techniques {sorted(unknown)}; known: {TECHNIQUES}")
    _quiet_aimet()
    np.random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)  # aimet-onnx optimises AdaRound's rounding with torch
    model = onnx.ModelProto()
    model.CopyFrom(onnx_model)
    inputs = calibration_inputs(model, calibration, recipe.calibration_batch_size)
    cfg = config_file(recipe.per_channel)
    result = OnnxQuantized(None, model.graph.input[0].name, backend(), config_file=Path(cfg).name)

    if "bn_fold" in recipe.techniques:
        result.applied.append(_fold_batchnorms(model))
    if "cle" in recipe.techniques:
        equalize_model(model)
        result.applied.append("cle")
    for technique in recipe.techniques:
        if technique in UNAVAILABLE:
            result.unavailable[technique] = UNAVAILABLE[technique]

    sim = QuantizationSimModel(model, param_type=f"int{recipe.param_bw}", activation_type=f"int{recipe.output_bw}",
                               quant_scheme=_quant_scheme(recipe.quant_scheme), config_file=cfg,
                               providers=["CPUExecutionProvider"], path=str(Path(workdir) / "sim"),
                               session_options_kwargs=onnxruntime_threads())
    if "adaround" in recipe.techniques:
        apply_adaround(sim, inputs[:recipe.adaround_batches], num_iterations=recipe.adaround_iterations)
        result.applied.append("adaround")
    sim.compute_encodings(inputs)
    result.sim = sim
    result.encodings_sha256 = encodings_digest(sim)
    result.quantizers = quantizer_table(sim, model)
    return result
