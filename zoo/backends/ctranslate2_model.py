"""Read the variables of a CTranslate2 ``model.bin`` (binary format 6) into numpy, without CTranslate2.

The layout is the one ``ctranslate2.specs.model_spec.ModelSpec._serialize`` writes, little-endian:
uint32 binary version, string spec name, uint32 spec revision, uint32 variable count, then per variable
a string name, uint8 rank, uint32 per dimension, uint8 dtype id, uint32 byte count and the raw bytes;
last a uint32 alias count and (alias, target) string pairs. A string is a uint16 length counting a
trailing NUL, then its bytes. Variables quantized by CTranslate2 (int8/int16 with a separate scale) are
refused: a float model is what the suite quantizes.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.checkpoints import CheckpointError

SUPPORTED_BINARY_VERSIONS = (5, 6)
# DataType ids of ctranslate2/types.h
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
FLOAT_DTYPES = (np.float32, np.float16)


@dataclass(frozen=True)
class Ct2Model:
    spec_name: str
    revision: int
    variables: dict[str, np.ndarray]  # aliases resolved: every name maps to its array

    def float32(self, name: str) -> np.ndarray:
        try:
            value = self.variables[name]
        except KeyError:
            raise CheckpointError(f"CTranslate2 {self.spec_name}: no variable {name!r}") from None
        if value.dtype.type not in FLOAT_DTYPES:
            raise CheckpointError(f"CTranslate2 {self.spec_name}: {name} is {value.dtype} (a CTranslate2-quantized "
                                  f"model); convert the model with --quantization float16 or float32")
        return value.astype(np.float32)

    def scalar(self, name: str) -> int:
        return int(self.variables[name].reshape(-1)[0])


class _Reader:
    def __init__(self, data: bytes, path: Path):
        self.data, self.offset, self.path = data, 0, path

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise CheckpointError(f"{self.path}: ends inside a record at byte {self.offset}; the file is truncated")
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def number(self, fmt: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.take(self.number("H"))[:-1].decode("utf-8")


def read_ct2_model(path: Path) -> Ct2Model:
    path = Path(path)
    reader = _Reader(path.read_bytes(), path)
    version = reader.number("I")
    if version not in SUPPORTED_BINARY_VERSIONS:
        raise CheckpointError(f"{path}: CTranslate2 binary version {version}; this reader knows "
                              f"{SUPPORTED_BINARY_VERSIONS} (zoo/backends/ctranslate2_model.py)")
    spec_name, revision = reader.string(), reader.number("I")
    variables = {}
    for _ in range(reader.number("I")):
        name = reader.string()
        shape = tuple(reader.number("I") for _ in range(reader.number("B")))
        dtype_id = reader.number("B")
        if dtype_id not in DTYPES:
            raise CheckpointError(f"{path}: variable {name} has data type id {dtype_id}, unknown to this reader")
        raw = reader.take(reader.number("I"))
        variables[name] = np.frombuffer(raw, dtype=np.dtype(DTYPES[dtype_id]).newbyteorder("<")).reshape(shape)
    for _ in range(reader.number("I")):
        alias, target = reader.string(), reader.string()
        variables[alias] = variables[target]
    if reader.offset != len(reader.data):
        raise CheckpointError(f"{path}: {len(reader.data) - reader.offset} bytes follow the last record")
    return Ct2Model(spec_name, revision, variables)
