"""The zoo's cases, one module per family. Ids are ``<framework prefix>_<architecture>.<recipe>.<dataset>``."""
from __future__ import annotations

from zoo.registry import Registry

REGISTRY = Registry()
SEED = "shared/seed/model-zoo-README.md"

# importing a family module adds its cases to REGISTRY
from zoo.cases import classification, pose, speech, super_resolution, tensorflow, voc  # noqa: E402,F401
