"""What every dataset offers (the ``Dataset`` protocol), its one error type, and seeded subsets of it."""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol


class DatasetError(Exception):
    """A dataset that is present but wrong (unknown synsets, partial tree, wrong sample count)."""


class Dataset(Protocol):
    """``dataset[i] -> (input tensor, target)`` with a model's preprocessing, plus what scorers and the cache read.

    Each dataset declares its ground-truth accessors by kind, so a subset can follow them (``SubsetView``):
    ``LIST_ACCESSORS`` return one item per sample in dataset order, ``INDEX_ACCESSORS`` take a sample index,
    ``SHARED_ATTRIBUTES`` are the same for any subset (a scale, an annotation file).
    """

    LIST_ACCESSORS: ClassVar[tuple[str, ...]]
    INDEX_ACCESSORS: ClassVar[tuple[str, ...]]
    SHARED_ATTRIBUTES: ClassVar[tuple[str, ...]]

    def __len__(self) -> int: ...

    def __getitem__(self, i: int): ...

    def sample_ids(self) -> list[str]: ...

    def fingerprint(self) -> str: ...

    def calibration_images(self, count: int, seed: int) -> list: ...


class TrainingPairs:
    """(input, target) pairs of a training split for quantization-aware training, each read when indexed (a
    training split does not fit in memory preprocessed): ``load(key)`` for each of ``keys``."""

    def __init__(self, keys: Sequence, load: Callable):
        self.keys, self.load = list(keys), load

    def __len__(self):
        return len(self.keys)

    def __getitem__(self, i):
        return self.load(self.keys[i])


def seeded_sample(items: Sequence, count: int, seed: int) -> list:
    """``count`` of ``items`` drawn with ``seed``, in their order; all of them for 0 or more than there are."""
    if not 0 < count < len(items):
        return list(items)
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), count))]


class SubsetView:
    """A fixed, seeded subset of a dataset's samples, in dataset order (``--subset N``, a case's eval_samples).

    Ground-truth accessors follow the subset as the dataset declares them: list accessors are sliced,
    per-index ones remapped, shared attributes passed through.
    """

    def __init__(self, dataset: Dataset, size: int, seed: int = 0):
        self.dataset = dataset
        self.indices = sorted(random.Random(seed).sample(range(len(dataset)), size))

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.dataset[self.indices[i]]

    def sample_ids(self) -> list[str]:
        everything = self.dataset.sample_ids()
        return [everything[i] for i in self.indices]

    def __getattr__(self, name):
        kind = type(self.dataset)
        if name in getattr(kind, "LIST_ACCESSORS", ()):
            everything = getattr(self.dataset, name)
            return lambda: [items[i] for items in [everything()] for i in self.indices]
        if name in getattr(kind, "INDEX_ACCESSORS", ()):
            accessor = getattr(self.dataset, name)
            return lambda i: accessor(self.indices[i])
        if name in getattr(kind, "SHARED_ATTRIBUTES", ()):
            return getattr(self.dataset, name)
        raise AttributeError(f"{name}: {kind.__name__} does not declare it in LIST_ACCESSORS, INDEX_ACCESSORS "
                             f"or SHARED_ATTRIBUTES (zoo/data/base.py Dataset), so a subset cannot follow it")

    def fingerprint(self) -> str:
        return f"{self.dataset.fingerprint()}:subset:{','.join(map(str, self.indices))}"

    def calibration_images(self, count: int, seed: int):
        return self.dataset.calibration_images(count, seed)

    def training_pairs(self, count: int, seed: int):
        return self.dataset.training_pairs(count, seed)


def select_samples(dataset: Dataset, case_id: str, where, expected_samples: int | None, subset: int | None):
    """The full dataset (whose size must match the expected count), or a seeded subset of it."""
    if subset:
        if len(dataset) < subset:
            raise DatasetError(f"{case_id}: --subset {subset} needs at least {subset} samples, "
                               f"found {len(dataset)} under {where}")
        return SubsetView(dataset, subset)
    if expected_samples is not None and len(dataset) != expected_samples:
        raise DatasetError(
            f"{case_id}: found {len(dataset)} samples under {where}, expected {expected_samples} "
            f"(full-dataset guard; the dataset is partial or different; --subset N evaluates a seeded subset)")
    return dataset
