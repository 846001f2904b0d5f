"""What the aimet-torch and aimet-onnx recipe layers share: both packages lay these out alike."""
from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path

QUANT_SCHEMES = {"tf_enhanced": "post_training_tf_enhanced", "tf": "post_training_tf", "min_max": "min_max",
                 "percentile": "post_training_percentile",
                 # quantization-aware training with range learning: encodings start from a calibration
                 # pass (tf: min/max, tf_enhanced: SQNR search) and their min/max then train with the weights
                 "range_learning_tf_init": "training_range_learning_with_tf_init",
                 "range_learning_tf_enhanced_init": "training_range_learning_with_tf_enhanced_init"}


def quiet(package: str) -> None:
    """AIMET logs to stdout through its own loggers and tqdm bars; keep only warnings."""
    importlib.import_module(f"{package}.common.utils").AimetLogger.set_level_for_all_areas(logging.WARNING)
    os.environ.setdefault("TQDM_DISABLE", "1")


def quant_scheme(package: str, name: str):
    if name not in QUANT_SCHEMES:
        raise ValueError(f"recipe quant_scheme {name!r} unknown; use one of {sorted(QUANT_SCHEMES)}")
    return getattr(importlib.import_module(f"{package}.common.defs").QuantScheme, QUANT_SCHEMES[name])


def config_file(package: str, per_channel: bool) -> str:
    """The quantsim config shipped with the package, always passed explicitly as a path."""
    name = "default_config_per_channel.json" if per_channel else "default_config.json"
    return str(Path(importlib.import_module(package).__file__).parent / "common" / "quantsim_config" / name)


# per-layer SQNR is measured on this many of the calibration samples and at most this many values per layer,
# taken at a fixed stride, so that a 513 x 513 segmentation net adds megabytes, not gigabytes
LAYER_SQNR_SAMPLES = 2
LAYER_SQNR_VALUES = 65_536


def quantizer_record(name: str, module: str, op: str, kind: str, bitwidth: int, symmetric: bool,
                     scale, offset) -> dict:
    """One quantizer as the layer report stores it, the same for aimet-torch and aimet-onnx; ``scale`` and
    ``offset`` are flat sequences (one value per channel), None where the quantizer has no encoding."""
    scale = None if scale is None else [float(s) for s in scale]
    offset = None if offset is None else [float(o) for o in offset]
    return {"quantizer": name, "module": module, "op": op, "kind": kind, "bitwidth": int(bitwidth),
            "symmetric": bool(symmetric), "channels": len(scale) if scale is not None else 0,
            "scale": scale, "offset": offset}

