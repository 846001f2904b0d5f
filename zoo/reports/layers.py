"""Layer by layer: what changed in the quantized model between two runs of a case.

Each run writes, beside a case's row, ``<case>.layers.json.gz`` (zoo.results.write_layers): every enabled
quantizer with its bitwidth, symmetry and encodings (scale and offset per channel), and the SQNR of each
quantized module's output against the FP32 model's (aimet-torch only). From two of them:

- the structure: quantizers per kind and bitwidth, per-channel ones, symmetric ones, which modules are
  quantized, plus the row's techniques and quantsim config; any difference is flagged, whatever the accuracy;
- the encodings: per quantizer present in both, the largest relative change of a channel's scale and the
  largest change of an offset, ranked, so the report names the layers whose encodings moved most;
- the per-layer SQNR: the modules whose SQNR fell most.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from zoo.reports import ReportError, as_float
from zoo.results import layers_path, read_layers


@dataclass(frozen=True)
class MovedQuantizer:
    quantizer: str
    op: str
    scale_change: float  # max over channels of |new - base| / |base|
    offset_change: float  # max over channels of |new - base|, in quantization steps
    base_scale: float  # of the channel that moved most
    new_scale: float


@dataclass(frozen=True)
class LayerSqnrChange:
    module: str
    base_db: float
    new_db: float

    @property
    def delta(self) -> float:
        return self.new_db - self.base_db


@dataclass
class LayerComparison:
    structure_changes: list[str]
    moved: list[MovedQuantizer]  # most moved first; quantizers whose encodings are identical are left out
    sqnr_changes: list[LayerSqnrChange]  # largest drop first; unchanged layers left out
    quantizers: int  # present in both runs


def load_layers(run_dir, case: str) -> dict | None:
    path = layers_path(run_dir, case)
    if not path.is_file():
        return None
    try:
        return read_layers(run_dir, case)
    except (OSError, ValueError) as e:
        raise ReportError(f"{path} is not a readable layer report ({e}); delete it or rerun the case") from e


def structure(layers: dict) -> Counter:
    """Countable facts about the quantizers: '<kind> int<bw>', per-channel, symmetric."""
    facts = Counter()
    for q in layers.get("quantizers") or []:
        facts[f"{q['kind']} int{q['bitwidth']}"] += 1
        if q["channels"] > 1:
            facts[f"{q['kind']} per-channel"] += 1
        if q["symmetric"]:
            facts[f"{q['kind']} symmetric"] += 1
        if q["scale"] is None:
            facts[f"{q['kind']} without encoding"] += 1
    return facts


def quantized_modules(layers: dict) -> set[str]:
    return {f"{q['module']} ({q['op']})" for q in layers.get("quantizers") or []}


def named_list(names: set[str], limit: int = 5) -> str:
    shown = sorted(names)[:limit]
    return ", ".join(shown) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def structure_changes(base_layers: dict, new_layers: dict, base_row: dict, new_row: dict) -> list[str]:
    changes = []
    base_facts, new_facts = structure(base_layers), structure(new_layers)
    for fact in sorted(set(base_facts) | set(new_facts)):
        if base_facts[fact] != new_facts[fact]:
            changes.append(f"{fact}: {base_facts[fact]} -> {new_facts[fact]}")
    base_modules, new_modules = quantized_modules(base_layers), quantized_modules(new_layers)
    if base_modules - new_modules:
        changes.append(f"no longer quantized: {named_list(base_modules - new_modules)}")
    if new_modules - base_modules:
        changes.append(f"newly quantized: {named_list(new_modules - base_modules)}")
    by_name = {q["quantizer"]: q for q in base_layers.get("quantizers") or []}
    for q in new_layers.get("quantizers") or []:
        old = by_name.get(q["quantizer"])
        if old and (old["bitwidth"], old["symmetric"], old["channels"]) != (q["bitwidth"], q["symmetric"],
                                                                            q["channels"]):
            changes.append(f"{q['quantizer']}: int{old['bitwidth']} {symmetry(old)} x{old['channels']} -> "
                           f"int{q['bitwidth']} {symmetry(q)} x{q['channels']}")
    for key in ("techniques_applied", "quantsim_config"):
        if base_row.get(key) != new_row.get(key):
            changes.append(f"{key}: {base_row.get(key)} -> {new_row.get(key)}")
    return changes


def symmetry(q: dict) -> str:
    return "symmetric" if q["symmetric"] else "asymmetric"


def relative_change(base: float, new: float) -> float:
    if base == new:
        return 0.0
    return abs(new - base) / abs(base) if base else math.inf


def encoding_move(base: dict, new: dict) -> MovedQuantizer | None:
    """How far one quantizer's encodings moved; None when they are identical or not comparable."""
    if base["scale"] is None or new["scale"] is None or len(base["scale"]) != len(new["scale"]):
        return None
    changes = [relative_change(b, n) for b, n in zip(base["scale"], new["scale"])]
    worst = max(range(len(changes)), key=changes.__getitem__)
    offsets = [abs(n - b) for b, n in zip(base["offset"] or [], new["offset"] or [])]
    offset_change = max(offsets, default=0.0)
    if changes[worst] == 0 and offset_change == 0:
        return None
    return MovedQuantizer(new["quantizer"], new["op"], changes[worst], offset_change, base["scale"][worst],
                          new["scale"][worst])


def encoding_moves(base_layers: dict, new_layers: dict) -> tuple[list[MovedQuantizer], int]:
    by_name = {q["quantizer"]: q for q in base_layers.get("quantizers") or []}
    pairs = [(by_name[q["quantizer"]], q) for q in new_layers.get("quantizers") or [] if q["quantizer"] in by_name]
    moved = [m for m in (encoding_move(b, n) for b, n in pairs) if m is not None]
    return sorted(moved, key=lambda m: (-m.scale_change, -m.offset_change, m.quantizer)), len(pairs)


def finite(value) -> float | None:
    """A layer report's SQNR as a float, None where it is absent or not finite ('inf': the layer is exact)."""
    value = as_float(value)
    return value if value is not None and math.isfinite(value) else None


def sqnr_changes(base_layers: dict, new_layers: dict) -> list[LayerSqnrChange]:
    base, new = base_layers.get("layer_sqnr_db") or {}, new_layers.get("layer_sqnr_db") or {}
    changes = []
    for module in sorted(set(base) & set(new)):
        base_db, new_db = finite(base[module]), finite(new[module])
        if base_db is not None and new_db is not None and base_db != new_db:
            changes.append(LayerSqnrChange(module, base_db, new_db))
    return sorted(changes, key=lambda c: (c.delta, c.module))


def compare_layers(base_layers: dict, new_layers: dict, base_row: dict, new_row: dict) -> LayerComparison:
    moved, quantizers = encoding_moves(base_layers, new_layers)
    return LayerComparison(structure_changes(base_layers, new_layers, base_row, new_row), moved,
                           sqnr_changes(base_layers, new_layers), quantizers)
