"""Checked weight assignment for the Keras models converted from TensorFlow checkpoints.

A converter describes where every checkpoint tensor goes with a plan of ``LayerWeights``:
one Keras layer and the checkpoint names that fill its ``get_weights()`` list, in order.
``assign_plan`` checks the whole plan (every name present, no name left over, every shape
fitting) before it assigns anything, so a refused checkpoint leaves the model untouched.

TF-slim checkpoints are read with ``tf.train.load_checkpoint``: a tensor reader, no graph
and no code from the file is executed.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.checkpoints import CheckpointError

# bookkeeping variables of TF1 training with no Keras counterpart: accepted and dropped
TF_BOOKKEEPING = ("global_step",)


@dataclass(frozen=True)
class LayerWeights:
    """One Keras layer and the checkpoint tensors that fill it, in ``layer.get_weights()`` order."""

    layer: str
    sources: tuple[str, ...]


def plan_names(plan: Iterable[LayerWeights]) -> list[str]:
    return [name for entry in plan for name in entry.sources]


def _listing(names: list[str]) -> str:
    return f"{names[:5]}{'...' if len(names) > 5 else ''} ({len(names)})"


def check_names(found: Iterable[str], plan: list[LayerWeights], source, model: str, fix: str,
                ignored: Iterable[str] = ()) -> None:
    """Raise CheckpointError naming every missing and every unexpected tensor name."""
    expected = set(plan_names(plan))
    found = set(found) - set(ignored)
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if missing or unexpected:
        raise CheckpointError(f"{source}: variables do not match the Keras {model}: missing {_listing(missing)}, "
                              f"unexpected {_listing(unexpected)}; {fix}")


def _arrays_for(layer, entry: LayerWeights, tensors: Mapping[str, np.ndarray], source, model: str) -> list[np.ndarray]:
    variables = layer.get_weights()
    if len(variables) != len(entry.sources):
        raise CheckpointError(f"{source}: Keras layer {layer.name} holds {len(variables)} weights, the plan maps "
                              f"{len(entry.sources)} ({list(entry.sources)}); the {model} plan is wrong")
    arrays = []
    for name, variable in zip(entry.sources, variables):
        array = np.asarray(tensors[name], dtype=np.float32)
        if array.shape != variable.shape:
            raise CheckpointError(f"{source}: variable {name} {array.shape} does not fit Keras layer {layer.name} "
                                  f"(needs {tuple(variable.shape)}); the checkpoint is not a {model}")
        arrays.append(array)
    return arrays


def assign_plan(model, plan: list[LayerWeights], tensors: Mapping[str, np.ndarray], source, description: str,
                fix: str, ignored: Iterable[str] = ()):
    """Copy ``tensors`` into ``model`` following ``plan``; return the model.

    Names and shapes are all checked before the first assignment.
    """
    check_names(tensors, plan, source, description, fix, ignored)
    assigned = [(model.get_layer(e.layer), _arrays_for(model.get_layer(e.layer), e, tensors, source, description))
                for e in plan]
    for layer, arrays in assigned:
        layer.set_weights(arrays)
    return model


def read_tf_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """Every variable of a TF1 checkpoint (V1 file or V2 prefix, or a directory holding one) by name.

    Reads tensors only: ``tf.train.load_checkpoint`` builds no graph and runs nothing from the file.
    """
    from zoo.backends.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    prefix = str(path)
    if Path(path).is_dir():
        prefix = tf.train.latest_checkpoint(prefix)
        if prefix is None:
            raise CheckpointError(f"{path}: directory holds no TensorFlow checkpoint (no 'checkpoint' index file); "
                                  f"pass the checkpoint prefix, e.g. .../model.ckpt")
    try:
        reader = tf.train.load_checkpoint(prefix)
        return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    except (tf.errors.OpError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot be read as a TensorFlow checkpoint ({type(e).__name__}: {e}); pass "
                              f"the prefix (the path without .index/.data-*) of an extracted checkpoint") from e


def _text(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def read_keras2_h5(path: Path, fix: str) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
    """(layer name, [(weight name, array), ...]) for each layer with weights of a Keras 2 h5 file
    (``save_weights`` or ``model.save``), in the file's order; read by name with h5py, nothing unpickled.
    ``fix`` ends every error message: what file the model expects."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f  # model.save() nests the weights
            if "layer_names" not in root.attrs:
                raise CheckpointError(f"{path}: no 'layer_names' attribute, so not a Keras 2 h5 weights file; {fix}")
            layers = []
            for name in _text(root.attrs["layer_names"]):
                weight_names = _text(root[name].attrs.get("weight_names", []))
                if weight_names:
                    layers.append((name, [(w, np.asarray(root[name][w])) for w in weight_names]))
            return layers
    except (OSError, KeyError) as e:
        raise CheckpointError(f"{path}: cannot be read as a Keras h5 weights file ({e}); {fix}") from e
