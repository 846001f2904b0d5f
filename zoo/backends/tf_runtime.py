"""TensorFlow imported beside torch, with its thread pools sized like torch's."""
from __future__ import annotations


def import_tensorflow():
    """Import TensorFlow safely beside torch.

    Importing tensorflow before triton (pulled in by torch._dynamo) segfaults the process;
    importing torchvision first loads triton in the order that works.
    """
    # isort: off
    import torchvision  # noqa: F401  (import order: see the docstring)
    import tensorflow as tf
    # isort: on

    from zoo.devices import cpu_threads_per_worker

    _share_cores(tf, cpu_threads_per_worker())
    return tf


def _share_cores(tf, threads: int) -> None:
    """TensorFlow's thread pools take every core by default: under ``-n N`` each xdist worker gets its share,
    as torch does (conftest's device fixture). Settable only before TensorFlow's runtime starts."""
    if tf.config.threading.get_intra_op_parallelism_threads() == threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # the runtime already started in this process: keep its pools
        pass
