"""The zoo's catalogue: every family's cases and model specs, collected from ``zoo/families/<family>/``.

A family folder holds its architectures per framework (``torch.py``, ``keras.py``, ``tiny.py``), each with
a ``MODELS`` tuple of ModelSpecs beside the architecture, and its cases as plain data (``cases.py``:
``CASES``). Case id = expected key = report row; a duplicate case id or model name stops collection.
"""
from __future__ import annotations

from types import ModuleType

from zoo.families.deeplab import cases as deeplab_cases
from zoo.families.deeplab import selfie as deeplab_selfie
from zoo.families.deeplab import tiny as deeplab_tiny
from zoo.families.deeplab import torch as deeplab_torch
from zoo.families.deepspeech2 import cases as deepspeech2_cases
from zoo.families.deepspeech2 import torch as deepspeech2_torch
from zoo.families.deepspeech2 import whisper as deepspeech2_whisper
from zoo.families.efficientnet_lite import cases as lite_cases
from zoo.families.efficientnet_lite import keras as lite_keras
from zoo.families.efficientnet_lite import torch as lite_torch
from zoo.families.mobilenet_v2 import cases as mobilenet_v2_cases
from zoo.families.mobilenet_v2 import keras as mobilenet_v2_keras
from zoo.families.mobilenet_v2 import torch as mobilenet_v2_torch
from zoo.families.pose import cases as pose_cases
from zoo.families.pose import keras as pose_keras
from zoo.families.pose import posenet as pose_posenet
from zoo.families.pose import tiny as pose_tiny
from zoo.families.pose import torch as pose_torch
from zoo.families.resnet50 import cases as resnet50_cases
from zoo.families.resnet50 import keras as resnet50_keras
from zoo.families.retinanet import cases as retinanet_cases
from zoo.families.retinanet import keras as retinanet_keras
from zoo.families.srgan import cases as srgan_cases
from zoo.families.srgan import keras as srgan_keras
from zoo.families.srgan import rrdbnet as srgan_rrdbnet
from zoo.families.srgan import tiny as srgan_tiny
from zoo.families.srgan import torch as srgan_torch
from zoo.families.ssd_lite import cases as ssd_lite_cases
from zoo.families.ssd_lite import tiny as ssd_lite_tiny
from zoo.families.ssd_lite import torch as ssd_lite_torch
from zoo.families.ssd_mobilenet_v2 import cases as ssd_mobilenet_v2_cases
from zoo.families.ssd_mobilenet_v2 import centernet as ssd_mobilenet_v2_centernet
from zoo.families.ssd_mobilenet_v2 import keras as ssd_mobilenet_v2_keras
from zoo.registry import ModelSpec, Registry

# family -> (its cases module, its model modules)
FAMILIES: dict[str, tuple[ModuleType, tuple[ModuleType, ...]]] = {
    "efficientnet_lite": (lite_cases, (lite_torch, lite_keras)),
    "mobilenet_v2": (mobilenet_v2_cases, (mobilenet_v2_torch, mobilenet_v2_keras)),
    "resnet50": (resnet50_cases, (resnet50_keras,)),
    "ssd_lite": (ssd_lite_cases, (ssd_lite_torch, ssd_lite_tiny)),
    "deeplab": (deeplab_cases, (deeplab_torch, deeplab_tiny, deeplab_selfie)),
    "ssd_mobilenet_v2": (ssd_mobilenet_v2_cases, (ssd_mobilenet_v2_keras, ssd_mobilenet_v2_centernet)),
    "retinanet": (retinanet_cases, (retinanet_keras,)),
    "pose": (pose_cases, (pose_torch, pose_keras, pose_tiny, pose_posenet)),
    "srgan": (srgan_cases, (srgan_torch, srgan_keras, srgan_tiny, srgan_rrdbnet)),
    "deepspeech2": (deepspeech2_cases, (deepspeech2_torch, deepspeech2_whisper)),
}


def collect_cases(families=FAMILIES) -> Registry:
    registry = Registry()
    for cases, _ in families.values():
        for case in cases.CASES:
            registry.add(case)  # raises on a duplicate id, naming it
    return registry


def collect_models(families=FAMILIES) -> dict[str, ModelSpec]:
    models: dict[str, ModelSpec] = {}
    for _, modules in families.values():
        for module in modules:
            for spec in module.MODELS:
                if spec.name in models:
                    raise ValueError(f"model {spec.name!r} is declared twice (again in {module.__name__})")
                models[spec.name] = spec
    return models


REGISTRY = collect_cases()
MODELS = collect_models()


def check_models_exist(registry: Registry = REGISTRY, models: dict[str, ModelSpec] = MODELS) -> None:
    unknown = {case.id: case.model for case in registry if case.model not in models}
    if unknown:
        raise ValueError(f"cases name models no family declares: {unknown}; add a ModelSpec to the family's MODELS")


check_models_exist()
