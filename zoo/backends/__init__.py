"""The two halves of the zoo behind one interface (``Backend`` in common.py): seed, prepare the model,
run it on a batch, export it for the recipe layer, quantize it with AIMET.

torch models run as they are (torch.py); Keras models take NHWC and are quantized through ONNX
(keras.py, onnx_export.py), so their quantized runner is the aimet-onnx sim. Keras weight plans
(keras_weights.py) and the TF1 meta-graph loader (tf_graph.py) are the Keras half's shared plumbing.
"""
from __future__ import annotations

from zoo.backends.common import Backend
from zoo.backends.keras import KerasBackend
from zoo.backends.torch import TorchBackend

BACKENDS: dict[str, Backend] = {b.name: b for b in (TorchBackend, KerasBackend)}
