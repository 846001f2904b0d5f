"""The Keras half's backend: Keras models run on NCHW batches (NHWC inside) and are
quantized through ONNX with aimet-onnx (zoo/recipes/onnx_ptq.py), so its quantized runner is the aimet-onnx sim."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from zoo.backends.common import Quantized, Runner, numpy_tuple
from zoo.backends.tf_runtime import import_tensorflow


def to_nhwc(images) -> np.ndarray:
    """A batch (or list) of NCHW torch tensors / arrays -> one NHWC float32 array."""
    if isinstance(images, (list, tuple)):
        images = np.stack([np.asarray(i) for i in images])
    return np.ascontiguousarray(np.asarray(images, dtype=np.float32).transpose(0, 2, 3, 1))


def is_onnx(model) -> bool:
    """A model the family already built as ONNX (a converted TensorFlow Lite file), not a Keras model."""
    import onnx

    return isinstance(model, onnx.ModelProto)


def onnx_runner(model) -> Runner:
    """onnxruntime on the ONNX model's NCHW input, one image at a time (such graphs fix the batch at 1)."""
    import onnxruntime as ort

    from zoo.devices import onnxruntime_threads

    options = ort.SessionOptions()
    for key, value in onnxruntime_threads().items():
        setattr(options, key, value)
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(batch: torch.Tensor) -> tuple[np.ndarray, ...]:
        outputs = [session.run(None, {name: image[None]}) for image in batch.numpy().astype(np.float32)]
        return tuple(np.concatenate(parts) for parts in zip(*outputs))

    return run


class KerasBackend:
    name = "tensorflow"
    PACKAGES = ("tensorflow-cpu", "tf2onnx", "aimet-onnx", "onnxruntime")  # recorded in each row beside torch's

    @staticmethod
    def seed(seed: int) -> None:
        """Keras initialisers draw from TensorFlow's generator: seeded weights for smoke cases."""
        import_tensorflow().keras.utils.set_random_seed(seed)
        torch.manual_seed(seed)

    @staticmethod
    def prepare(model, device, calibration, seed: int | None):
        return model, None

    @staticmethod
    def runner(model, device=None) -> Runner:
        if is_onnx(model):
            return onnx_runner(model)

        def run(batch: torch.Tensor) -> tuple[np.ndarray, ...]:
            return numpy_tuple(model(batch.numpy().transpose(0, 2, 3, 1), training=False))

        return run

    @staticmethod
    def export(model, spec):
        from zoo.backends.onnx_export import keras_to_onnx

        return model if is_onnx(model) else keras_to_onnx(model, spec.input_size)

    @classmethod
    def quantize(cls, model, spec, recipe, calibration, device, workdir: Path, training=None) -> Quantized:
        from zoo.recipes.onnx_ptq import quantize

        q = quantize(cls.export(model, spec), recipe, calibration, workdir)
        return Quantized(lambda batch: tuple(q.run_all(batch.numpy())), q.backend, q.applied, q.unavailable,
                         q.config_file, q.encodings_sha256, quantizers=q.quantizers)
