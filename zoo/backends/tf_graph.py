"""A TF1 meta graph + checkpoint (as the AIMET zoo's TensorFlow releases ship) behind the Keras interface.

``MetaGraphModel`` reads the ``.meta`` file (a MetaGraphDef protobuf) into a private graph, restores its
variables from the checkpoint beside it and freezes the part of the graph between the named input and
outputs to constants. That frozen graph is then what runs: ``model(nhwc_batch, training=False)`` returns
the outputs as numpy arrays (as zoo.backends.keras.KerasBackend's runner expects of a Keras model) and
``to_onnx(input_size)`` converts it with tf2onnx and applies zoo.backends.onnx_export's contract (one
input named ``INPUT_NAME``, NCHW, standard ops only, ORT basic optimisation, stable tensor names), so
``keras_to_onnx(model, size)`` exports it as it would a Keras model.

Nothing is executed as Python: the meta graph is parsed as a protobuf, the checkpoint is read as tensors
(``tf.train.load_checkpoint``) and restored by restore ops this module builds (the meta graph's own
saver ops are never run), and a frozen graph holding ops that call Python or touch files is refused.

The AIMET zoo's ``pose_estimation_tensorflow`` release is one such graph
(``zoo.families.pose.keras.build_tf_pose_release`` names its input and outputs).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zoo.checkpoints import CheckpointError

# ops that would run Python or touch the file system if they sat between the input and the outputs
REFUSED_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc", "ReadFile", "WriteFile", "MatchingFiles",
                         "Save", "SaveV2", "SaveSlices", "Restore", "RestoreV2", "RestoreSlice", "MergeV2Checkpoints",
                         "PrintV2", "Print", "DebugIdentity", "ImmutableConst"})


def _tensor_name(name: str) -> str:
    return name if ":" in name else f"{name}:0"


def _op_name(tensor_name: str) -> str:
    return tensor_name.split(":")[0]


def checkpoint_prefix(meta_path: Path) -> str:
    """The checkpoint beside ``x.meta``: the prefix ``x`` (``x.index`` + ``x.data-*``), else the latest
    checkpoint the directory's ``checkpoint`` state file names. CheckpointError when there is none."""
    from zoo.backends.tf_runtime import import_tensorflow

    meta_path = Path(meta_path)
    prefix = meta_path.with_suffix("")
    if prefix.with_name(prefix.name + ".index").is_file():
        return str(prefix)
    latest = import_tensorflow().train.latest_checkpoint(str(meta_path.parent))
    if latest and Path(latest + ".index").is_file():
        return latest
    raise CheckpointError(f"{meta_path}: no checkpoint beside it (looked for {prefix.name}.index + "
                          f"{prefix.name}.data-* and a 'checkpoint' state file in {meta_path.parent}); extract the "
                          f"whole release archive (the .meta file and its checkpoint files) into one folder")


def read_meta_graph(meta_path: Path):
    """Parse ``meta_path`` as a MetaGraphDef protobuf; CheckpointError for anything else."""
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import meta_graph_pb2

    meta_path = Path(meta_path)
    if not meta_path.is_file():
        raise CheckpointError(f"{meta_path}: no such file; pass the release's .meta file (TF1 meta graph)")
    meta = meta_graph_pb2.MetaGraphDef()
    try:
        meta.ParseFromString(meta_path.read_bytes())
    except (DecodeError, ValueError) as e:
        raise CheckpointError(f"{meta_path}: not a TF1 meta graph (MetaGraphDef protobuf): {e}; pass the "
                              f"release's .meta file, not a checkpoint shard, SavedModel or frozen .pb") from e
    if not meta.graph_def.node:
        raise CheckpointError(f"{meta_path}: not a TF1 meta graph (parsed as a MetaGraphDef with no graph nodes); "
                              f"pass the release's .meta file, not a checkpoint shard, SavedModel or frozen .pb")
    return meta


def _session_config(tf):
    from zoo.devices import cpu_threads_per_worker

    threads = cpu_threads_per_worker()
    return tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads)


def _candidates(graph, inputs: bool) -> list[str]:
    """Placeholders (inputs) or tensors nothing consumes (outputs): named in the error for a wrong name."""
    if inputs:
        return [f"{op.name}:0" for op in graph.get_operations() if op.type == "Placeholder"]
    consumed = {t.name for op in graph.get_operations() for t in op.inputs}
    return [t.name for op in graph.get_operations() for t in op.outputs
            if t.name not in consumed and op.type not in ("NoOp", "Assign", "AssignVariableOp", "SaveV2", "RestoreV2")
            and not op.name.startswith("save/")][:20]


def _lookup(graph, name: str, meta_path: Path, role: str):
    try:
        return graph.get_tensor_by_name(_tensor_name(name))
    except (KeyError, ValueError) as e:
        found = _candidates(graph, role == "input")
        what = "placeholders" if role == "input" else "unconsumed tensors"
        raise CheckpointError(f"{meta_path}: the graph has no {role} tensor {name!r} ({e}); its {what}: {found}. "
                              f"Pass the {role} name(s) the release documents") from e


class MetaGraphModel:
    """A frozen TF1 meta graph with one NHWC image input, called like a Keras model.

    ``output_order`` (a permutation of ``range(len(outputs))``) reorders what is returned:
    ``outputs[output_order[k]]`` comes k-th, from ``__call__`` and in the ONNX graph alike.
    """

    def __init__(self, meta_path: Path, input_name: str, output_names: Sequence[str],
                 output_order: Sequence[int] | None = None, checkpoint: str | Path | None = None,
                 name: str | None = None):
        from zoo.backends.tf_runtime import import_tensorflow

        tf = import_tensorflow()
        self.meta_path = Path(meta_path)
        self.name = name or self.meta_path.stem
        self.input_name = _tensor_name(input_name)
        output_names = [_tensor_name(n) for n in output_names]
        order = list(range(len(output_names))) if output_order is None else [int(k) for k in output_order]
        if not output_names or sorted(order) != list(range(len(output_names))):
            raise ValueError(f"output_order {output_order} is not a permutation of the {len(output_names)} outputs "
                             f"{output_names}")
        self.output_names = [output_names[k] for k in order]  # already in the returned order
        meta = read_meta_graph(self.meta_path)
        prefix = str(checkpoint) if checkpoint is not None else checkpoint_prefix(self.meta_path)
        self.checkpoint = prefix
        self.graph_def = self._freeze(tf, meta, prefix)
        self._graph = tf.Graph()
        with self._graph.as_default():
            tf.compat.v1.import_graph_def(self.graph_def, name="")
        self._input = self._graph.get_tensor_by_name(self.input_name)
        self._outputs = [self._graph.get_tensor_by_name(n) for n in self.output_names]
        self._session = tf.compat.v1.Session(graph=self._graph, config=_session_config(tf))
        shape = self._input.shape
        self.input_shape = None if shape.rank is None else tuple(shape.as_list())

    # ------------------------------------------------------------------ loading
    def _freeze(self, tf, meta, prefix: str):
        """Import the meta graph into a private graph, restore its variables from ``prefix`` with restore ops
        built here, and return the sub-graph from the input to the outputs with variables as constants."""
        try:
            reader = tf.train.load_checkpoint(prefix)
        except Exception as e:  # noqa: BLE001 (tf raises several kinds for a truncated / foreign file)
            raise CheckpointError(f"{prefix}: cannot be read as a TF checkpoint beside {self.meta_path.name}: {e}; "
                                  f"re-extract the release archive (.index and .data-* files)") from e
        stored = reader.get_variable_to_shape_map()
        graph = tf.Graph()
        with graph.as_default():
            tf.compat.v1.train.import_meta_graph(meta, clear_devices=True, import_scope=None)
            image = _lookup(graph, self.input_name, self.meta_path, "input")
            outputs = [_lookup(graph, n, self.meta_path, "output") for n in self.output_names]
            if image.dtype != tf.float32 or image.shape.rank not in (None, 4):
                raise CheckpointError(f"{self.meta_path}: input {self.input_name} is {image.dtype.name} "
                                      f"{image.shape}, expected a float32 NHWC image batch")
            variables = tf.compat.v1.global_variables()
            missing = sorted(v.op.name for v in variables if v.op.name not in stored)
            misshaped = sorted(f"{v.op.name} {tuple(stored[v.op.name])} (graph {tuple(v.shape.as_list())})"
                               for v in variables if v.op.name in stored
                               and v.shape.is_fully_defined() and tuple(stored[v.op.name]) != tuple(v.shape.as_list()))
            if missing or misshaped:
                raise CheckpointError(f"{prefix}: the checkpoint does not fit {self.meta_path.name}: missing "
                                      f"{missing[:5]}{'...' if len(missing) > 5 else ''} ({len(missing)}), "
                                      f"misshaped {misshaped[:5]}; use the checkpoint released with this meta graph")
            with tf.compat.v1.Session(graph=graph, config=_session_config(tf)) as session:
                if variables:
                    saver = tf.compat.v1.train.Saver(var_list={v.op.name: v for v in variables}, name="zoo_restore")
                    saver.restore(session, prefix)
                frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
                    session, graph.as_graph_def(), [_op_name(t.name) for t in outputs])
        refused = sorted({node.op for node in frozen.node if node.op in REFUSED_OPS})
        if refused:
            raise CheckpointError(f"{self.meta_path}: the graph from {self.input_name} to {self.output_names} holds "
                                  f"ops that run Python or touch files {refused}; refused (only the released "
                                  f"network's graph is loaded)")
        placeholders = sorted(f"{n.name}:0" for n in frozen.node if n.op == "Placeholder")
        if placeholders != [self.input_name]:
            raise CheckpointError(f"{self.meta_path}: the outputs {self.output_names} depend on the placeholders "
                                  f"{placeholders}, expected only {self.input_name}; the model must have one "
                                  f"image input")
        return frozen

    # ------------------------------------------------------------------ the Keras-like interface
    def __call__(self, images, training: bool = False) -> list[np.ndarray]:
        """NHWC float batch -> the outputs (numpy, in the requested order). ``training`` is accepted for the
        Keras calling convention; the frozen graph has no training mode."""
        batch = np.ascontiguousarray(np.asarray(images, dtype=np.float32))
        fixed = self.input_shape[0] if self.input_shape else None
        if fixed is not None and fixed != len(batch):
            if fixed != 1:
                raise ValueError(f"{self.meta_path.name}: input {self.input_name} takes batches of {fixed}, "
                                 f"got {len(batch)}")
            parts = [self._session.run(self._outputs, {self._input: batch[i:i + 1]}) for i in range(len(batch))]
            return [np.concatenate(o) for o in zip(*parts)]
        return list(self._session.run(self._outputs, {self._input: batch}))

    def to_onnx(self, input_size: int | None, nchw: bool = True):
        """The frozen graph as an ONNX ModelProto under keras_to_onnx's contract: one input ``INPUT_NAME``
        (NCHW when ``nchw``; ``input_size`` None leaves height and width dynamic), the outputs in the
        requested order, named as the TF tensors without ``:0``."""
        import tf2onnx

        from zoo.backends.onnx_export import INPUT_NAME, OPSET, finish_export
        from zoo.backends.tf_runtime import import_tensorflow

        import_tensorflow()
        renames = {self.input_name: INPUT_NAME, **{n: _op_name(n) for n in self.output_names}}
        model, _ = tf2onnx.convert.from_graph_def(self._export_graph_def(input_size), name=self.name,
                                                  input_names=[self.input_name], output_names=list(self.output_names),
                                                  opset=OPSET, inputs_as_nchw=[self.input_name] if nchw else None,
                                                  tensors_to_rename=renames)
        return finish_export(model, self.name)

    def _export_graph_def(self, input_size: int | None):
        """The frozen graph with the input placeholder shaped as keras_to_onnx's signature: batch dynamic (the
        release feeds [1, H, W, 3]: a batch of 1 becomes any batch), height and width ``input_size`` or as the
        graph has them. Recorded ``_output_shapes`` are dropped so that every shape follows from the input."""
        from tensorflow.core.framework import tensor_shape_pb2

        graph_def = type(self.graph_def)()
        graph_def.CopyFrom(self.graph_def)
        shape = list(self.input_shape) if self.input_shape else [None, None, None, 3]
        if len(shape) != 4:
            raise ValueError(f"{self.meta_path.name}: input {self.input_name} has shape {shape}, expected NHWC")
        shape = [None if shape[0] == 1 else shape[0], *((input_size, input_size) if input_size else shape[1:3]),
                 shape[3]]
        for node in graph_def.node:
            node.attr.pop("_output_shapes", None)
            if node.name == _op_name(self.input_name):
                node.attr["shape"].shape.CopyFrom(tensor_shape_pb2.TensorShapeProto(
                    dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=-1 if d is None else d) for d in shape]))
        return graph_def

    def close(self) -> None:
        self._session.close()
