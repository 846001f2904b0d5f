"""The CTranslate2 model.bin reader (zoo.backends.ctranslate2_model) on files written here in the format."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from zoo.backends.ctranslate2_model import read_ct2_model
from zoo.checkpoints import CheckpointError

DTYPE_IDS = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.float16): 4}


def _string(text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack("<H", len(data)) + data


def ct2_bytes(variables: dict, aliases: dict | None = None, version: int = 6, name: str = "WhisperSpec") -> bytes:
    """A model.bin as ctranslate2.specs.model_spec writes it."""
    out = struct.pack("<I", version) + _string(name) + struct.pack("<I", 3) + struct.pack("<I", len(variables))
    for key, value in variables.items():
        out += _string(key) + struct.pack("<B", value.ndim) + b"".join(struct.pack("<I", d) for d in value.shape)
        raw = value.astype(value.dtype.newbyteorder("<")).tobytes()
        out += struct.pack("<B", DTYPE_IDS[value.dtype]) + struct.pack("<I", len(raw)) + raw
    aliases = aliases or {}
    out += struct.pack("<I", len(aliases)) + b"".join(_string(a) + _string(t) for a, t in aliases.items())
    return out


def test_variables_dtypes_and_aliases_round_trip(tmp_path):
    weight = np.arange(6, dtype=np.float16).reshape(2, 3) / 4
    path = tmp_path / "model.bin"
    path.write_bytes(ct2_bytes({"decoder/embeddings/weight": weight, "encoder/num_heads": np.array(6, np.int8),
                                "bias": np.array([0.5, -1.25], np.float32)},
                               {"decoder/projection/weight": "decoder/embeddings/weight"}))
    model = read_ct2_model(path)
    assert (model.spec_name, model.revision) == ("WhisperSpec", 3)
    np.testing.assert_array_equal(model.float32("decoder/projection/weight"), weight.astype(np.float32))
    assert model.float32("bias").tolist() == [0.5, -1.25]
    assert model.scalar("encoder/num_heads") == 6


def test_quantized_variable_is_refused_as_float(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(ct2_bytes({"w": np.ones((2, 2), np.int8)}))
    with pytest.raises(CheckpointError, match="CTranslate2-quantized"):
        read_ct2_model(path).float32("w")


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[:-7], "truncated|follow"),
    (lambda data: data + b"\0\0", "follow the last record"),
    (lambda data: struct.pack("<I", 2) + data[4:], "binary version 2"),
])
def test_damaged_files_are_refused(tmp_path, damage, message):
    path = tmp_path / "model.bin"
    path.write_bytes(damage(ct2_bytes({"w": np.ones(3, np.float16)})))
    with pytest.raises(CheckpointError, match=message):
        read_ct2_model(path)
