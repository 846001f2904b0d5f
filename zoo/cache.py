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
from zoo.tasks import Predictions

ZOO_DIR = Path(__file__).resolve().parent
# code that decides FP32 outputs: architectures, preprocessing, data loading, evaluation
FP32_CODE = ("families", "data", "backends", "pipeline.py", "checkpoints.py")


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


def pack(predictions: Predictions) -> dict[str, np.ndarray]:
    """Predictions as plain arrays (no pickled objects): per output, the samples' arrays
    concatenated flat with their shapes beside them; raw outputs as they are."""
    arrays = {}
    for k in range(len(predictions.samples[0]) if predictions.samples else 0):
        parts = [np.asarray(sample[k]) for sample in predictions.samples]
        arrays[f"sample{k}"] = np.concatenate([p.ravel() for p in parts])
        arrays[f"sample{k}_shapes"] = np.array([p.shape for p in parts], dtype=np.int64).reshape(len(parts), -1)
    arrays.update({f"raw{k}": r for k, r in enumerate(predictions.raw)})
    return arrays


def unpack(arrays) -> Predictions:
    outputs = []
    k = 0
    while f"sample{k}" in arrays:
        flat, shapes = arrays[f"sample{k}"], arrays[f"sample{k}_shapes"]
        sizes = [int(np.prod(s)) for s in shapes]
        outputs.append([chunk.reshape(s) for chunk, s in zip(np.split(flat, np.cumsum(sizes)[:-1]), shapes)])
        k += 1
    raw = []
    while f"raw{len(raw)}" in arrays:
        raw.append(arrays[f"raw{len(raw)}"])
    return Predictions(list(zip(*outputs)), tuple(raw))


class Fp32Cache:
    """Directory of ``<key>.npz`` files; ``None`` as directory disables caching."""

    def __init__(self, directory: Path | None):
        self.directory = Path(directory) if directory else None

    def load(self, key: str) -> Predictions | None:
        if self.directory is None:
            return None
        path = self.directory / f"{key}.npz"
        try:
            with np.load(path) as data:
                return unpack(data)
        except (OSError, KeyError, ValueError):  # absent or damaged: evaluate again
            return None

    def store(self, key: str, predictions: Predictions) -> None:
        if self.directory is None:
            return
        buffer = io.BytesIO()
        np.savez(buffer, **pack(predictions))
        atomic_write_bytes(self.directory / f"{key}.npz", buffer.getvalue())
