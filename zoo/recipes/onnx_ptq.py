"""Post-training quantization of a Keras model, driven by a Recipe: the TensorFlow half's AIMET backend.

PyPI's ``aimet-tensorflow`` is a 0.0.1 placeholder with no code, so the Keras model goes through
ONNX: ``tf2onnx`` export -> onnxruntime basic graph optimisation (folds every BatchNorm into its
convolution, the depthwise ones included) -> ``aimet-onnx`` (CLE, AdaRound, quantsim, QDQ export).
This module and torch_ptq.py are the only code importing aimet_*; this one alone imports tf2onnx.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from zoo import memory
from zoo.recipes import aimet_common

TECHNIQUES = ("bn_fold", "cle", "bias_correction", "adaround")
UNAVAILABLE = {"bias_correction": "aimet-onnx 2.42 ships no bias correction (and aimet-tensorflow on PyPI is a "
                                  "0.0.1 placeholder with no code)"}
OPSET = 17
INPUT_NAME = "image"


class ExportError(Exception):
    """The Keras -> ONNX export produced a graph that cannot serve as the quantization source."""


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


# ----------------------------------------------------------------------------- Keras -> ONNX
def keras_to_onnx(keras_model, input_size: int | None, nchw: bool = True):
    """Export a Keras image model to ONNX ready for aimet-onnx; returns an ``onnx.ModelProto``.

    ``input_size`` None leaves height and width dynamic (fully convolutional models such as SR).
    ``nchw=True`` makes the ONNX input NCHW (as the suite's torch preprocessing produces); the
    Keras model itself stays NHWC. BatchNorms are folded by onnxruntime's basic optimisation and
    Clip bounds become Constant nodes so aimet-onnx's CLE recognises ReLU6.
    """
    from zoo.models.keras_efficientnet_lite import import_tensorflow

    tf = import_tensorflow()
    import tf2onnx

    if hasattr(keras_model, "to_onnx"):  # converts itself, e.g. a TF1 meta graph (zoo/models/tf_meta_graph.py)
        return keras_model.to_onnx(input_size, nchw=nchw)
    signature = (tf.TensorSpec((None, input_size, input_size, 3), tf.float32, name=INPUT_NAME),)
    model, _ = tf2onnx.convert.from_keras(keras_model, input_signature=signature, opset=OPSET,
                                          inputs_as_nchw=[INPUT_NAME] if nchw else None,
                                          optimizers=tf2onnx_optimizers())
    model = finish_export(model, keras_model.name)
    memory.release()  # the conversion leaves ~3 GB of garbage and freed heap (RetinaNet: 4.6 -> 1.8 GB resident)
    return model


def tf2onnx_optimizers():
    """tf2onnx's own graph optimizers, each started after a garbage collection.

    tf2onnx deep-copies the whole graph, weights included, before each optimizer and pass; the copies
    it drops sit in reference cycles that Python's collector reaches late, so they pile up: exporting
    the slim ResNet-50 (98 MB of weights) peaked at 7.9 GB, the RetinaNet at dynamic size at 16.5 GB.
    Collected before each optimizer, the same export peaks at 3.4 GB and gives the same model
    (measured 2026-12-06, tf2onnx 1.17.0; benchmarks/bench.py --parts memory)."""
    import gc
    from collections import OrderedDict

    from tf2onnx import optimizer

    def collected_first(factory):
        def make():
            gc.collect()
            return factory()
        return make

    return OrderedDict((name, collected_first(factory)) for name, factory in optimizer._get_optimizers().items())


def finish_export(model, name: str):
    """A tf2onnx export made ready for aimet-onnx: standard ops only, BatchNorms folded by onnxruntime's
    basic optimisation, Clip bounds as Constant nodes, per-process name counters replaced, checked."""
    import onnx

    _check_converted(model, name, "tf2onnx")
    model = ort_basic_optimise(model)
    _check_converted(model, name, "onnxruntime's basic optimisation")
    clip_bounds_as_constants(model)
    stable_tensor_names(model)
    onnx.checker.check_model(model)
    return model


def _check_converted(model, name: str, stage: str) -> None:
    """Only standard ONNX ops and one image input. tf2onnx continues on conversion errors and leaves
    TF ops in the graph, and onnxruntime could fuse into its own ops: refuse such a graph."""
    foreign = sorted({f"{n.domain}:{n.op_type}" for n in model.graph.node if n.domain not in ("", "ai.onnx")})
    if foreign:
        raise ExportError(f"{stage} left non-standard ops in Keras model {name!r}: {foreign}; change the layers "
                          f"in zoo/models/ or OPSET in zoo/recipes/onnx_ptq.py")
    if [i.name for i in model.graph.input] != [INPUT_NAME]:
        raise ExportError(f"Keras model {name!r} exported inputs {[i.name for i in model.graph.input]}, expected "
                          f"[{INPUT_NAME!r}]; the recipe supports single-image-input models only")


def _session_threads() -> dict:
    """onnxruntime sessions take every core by default: under ``-n N`` each xdist worker gets its share."""
    from zoo.devices import cpu_threads_per_worker

    threads = cpu_threads_per_worker()
    return {"intra_op_num_threads": threads, "inter_op_num_threads": threads}


def ort_basic_optimise(model):
    """onnxruntime ORT_ENABLE_BASIC rewrites (constant folding, Conv+BN fusion), saved as a standard ONNX model."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        for name, value in _session_threads().items():
            setattr(options, name, value)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = os.path.join(tmp, "optimised.onnx")
        ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return onnx.load(options.optimized_model_filepath)


def clip_bounds_as_constants(model) -> int:
    """Feed each Clip's min/max from its own Constant node instead of an initializer; return how many.

    tf2onnx and onnxruntime feed Clip bounds from (shared) initializers; aimet-onnx's CLE looks for
    a Constant producer to recognise ReLU6 and replace it with ReLU before scaling.
    """
    import onnx
    from onnx import numpy_helper

    initializers = {init.name: init for init in model.graph.initializer}
    constants, rewritten = [], 0
    for node in model.graph.node:
        if node.op_type != "Clip":
            continue
        for k in range(1, len(node.input)):
            if node.input[k] in initializers:
                value = numpy_helper.to_array(initializers[node.input[k]])
                out = f"{node.name}_{('min', 'max')[k - 1]}"
                constants.append(onnx.helper.make_node("Constant", [], [out], name=f"{out}_const",
                                                       value=numpy_helper.from_array(value, out)))
                node.input[k] = out
                rewritten += 1
    used = {name for node in model.graph.node for name in node.input}
    keep = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    nodes = constants + list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return rewritten


_NUMBERED = re.compile(r"__\d+")


def stable_tensor_names(model) -> int:
    """Replace the per-process counters in tf2onnx/onnxruntime names (``Conv__318:0``,
    ``const_fold_opt__591``) by the tensor's position in the graph; return how many were renamed.

    The counters differ from one process to the next, so without this the quantizer names, and
    with them the encodings digest, would change between identical runs.
    """
    renames: dict[str, str] = {}

    def note(name: str, where: str) -> None:
        if name and name not in renames and _NUMBERED.search(name):
            renames[name] = f"{_NUMBERED.sub('', name)}.{where}"

    graph = model.graph
    for k, node in enumerate(graph.node):
        for j, name in enumerate(node.input):
            note(name, f"n{k}.in{j}")
        for j, name in enumerate(node.output):
            note(name, f"n{k}.out{j}")
        if _NUMBERED.search(node.name):
            node.name = f"{_NUMBERED.sub('', node.name)}.n{k}"
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for entry in (*graph.initializer, *graph.input, *graph.output, *graph.value_info):
        entry.name = renames.get(entry.name, entry.name)
    return len(renames)


# ----------------------------------------------------------------------------- quantization
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
        raise ExportError(f"{left} BatchNormalization nodes could not be folded; the sim would not represent "
                          f"the deployed model (see keras_to_onnx in zoo/recipes/onnx_ptq.py)")
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
                               session_options_kwargs=_session_threads())
    if "adaround" in recipe.techniques:
        apply_adaround(sim, inputs[:recipe.adaround_batches], num_iterations=recipe.adaround_iterations)
        result.applied.append("adaround")
    sim.compute_encodings(inputs)
    result.sim = sim
    result.encodings_sha256 = encodings_digest(sim)
    return result
