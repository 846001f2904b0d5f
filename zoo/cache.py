"""FP32 outputs cached by checkpoint sha256 + dataset fingerprint + code version.

A run that changes only AIMET re-evaluates only the quantized side.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from zoo.fileio import atomic_write_bytes

ZOO_DIR = Path(__file__).resolve().parent
# code that decides FP32 outputs: architectures, preprocessing, data loading, evaluation
FP32_CODE = ("models", "datasets", "pipeline.py", "checkpoints.py")


def code_version() -> str:
    digest = hashlib.sha256()
    for entry in FP32_CODE:
        path = ZOO_DIR / entry
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(source.relative_to(ZOO_DIR).as_posix().encode() + source.read_bytes())
    return digest.hexdigest()[:16]


def fp32_key(case, checkpoint_sha256: str | None, dataset_fingerprint: str, device) -> str:
    from importlib.metadata import version

    parts = {
        "model": case.model, "checkpoint": checkpoint_sha256 or f"deterministic:{case.recipe.seed}",
        "calibration_for_weights": case.recipe.calibration_images if checkpoint_sha256 is None else None,
        "dataset": dataset_fingerprint, "code": code_version(), "device": getattr(device, "type", str(device)),
        "torch": version("torch"), "timm": version("timm"),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class Fp32Cache:
    """Directory of ``<key>.npz`` files; ``None`` as directory disables caching."""

    def __init__(self, directory: Path | None):
        self.directory = Path(directory) if directory else None

    def load(self, key: str) -> np.ndarray | None:
        if self.directory is None:
            return None
        path = self.directory / f"{key}.npz"
        try:
            with np.load(path) as data:
                return data["outputs"]
        except (OSError, KeyError, ValueError):  # absent or damaged: evaluate again
            return None

    def store(self, key: str, outputs: np.ndarray) -> None:
        if self.directory is None:
            return
        buffer = io.BytesIO()
        np.savez(buffer, outputs=outputs)
        atomic_write_bytes(self.directory / f"{key}.npz", buffer.getvalue())
