"""Model builders by name: architecture, checkpoint loading and each source model's preprocessing."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn

from zoo.datasets.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocess


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[Path | None], nn.Module]
    preprocess: Callable
    input_size: int = 224
    # (a batch's outputs, the dataset's targets for the batch) -> per-sample predictions kept for scoring
    # (decoded boxes, masks, transcripts); None keeps the outputs as they are
    reduce: Callable | None = None


def _lazy(target: str) -> Callable:
    """``"module:function"`` imported at the first call, so listing MODELS imports no framework."""
    module, _, attribute = target.partition(":")

    def call(*args, **kwargs):
        import importlib

        return getattr(importlib.import_module(module), attribute)(*args, **kwargs)

    call.__name__ = call.__qualname__ = attribute
    return call


def _efficientnet_lite0(checkpoint):
    from zoo.models.efficientnet_lite import efficientnet_lite0

    return efficientnet_lite0(checkpoint)


def _tf_efficientnet_lite0(checkpoint):
    from zoo.models.efficientnet_lite import tf_efficientnet_lite0

    return tf_efficientnet_lite0(checkpoint)


def _keras_efficientnet_lite0(checkpoint):
    from zoo.models.keras_efficientnet_lite import keras_efficientnet_lite0

    return keras_efficientnet_lite0(checkpoint)


def _ssd_lite(checkpoint):
    from zoo.checkpoints import load_state_dict, load_strict
    from zoo.models.ssd_lite import MobileNetV2SSDLite

    model = MobileNetV2SSDLite()
    return load_strict(model, load_state_dict(checkpoint), checkpoint) if checkpoint else model


def _ssd_lite_preprocess(image):
    from zoo.models.ssd_lite import preprocess

    return preprocess(image)


def _ssd_priors(name: str) -> torch.Tensor:
    from zoo.models.ssd_lite import generate_priors
    from zoo.models.voc_tiny import tiny_ssd_priors

    return {"mobilenet_v2_ssd_lite": generate_priors, "tiny": tiny_ssd_priors}[name]()


def _ssd_lite_decode(outputs, _targets, priors: str = "mobilenet_v2_ssd_lite"):
    """Per image: the source's Predictor output with boxes as fractions of the image (width = height = 1)."""
    from zoo.models.ssd_lite import postprocess

    priors = _ssd_priors(priors)
    confidences, locations = (torch.from_numpy(o) for o in outputs)
    decoded = [postprocess(c, loc, 1, 1, priors) for c, loc in zip(confidences, locations)]
    return [(d.boxes, d.labels, d.scores) for d in decoded]


def _ssd_lite_tiny(checkpoint):
    from zoo.models.voc_tiny import build_tiny_ssd_lite

    return build_tiny_ssd_lite(checkpoint)


def _ssd_lite_tiny_preprocess(image):
    from zoo.models.voc_tiny import preprocess_detection

    return preprocess_detection(image)


def _deeplab_tiny(checkpoint):
    from zoo.models.voc_tiny import build_tiny_deeplab

    return build_tiny_deeplab(checkpoint)


def _deeplab_tiny_preprocess(image, mask):
    from zoo.models.voc_tiny import preprocess_segmentation

    return preprocess_segmentation(image, mask)


def _deeplab(checkpoint):
    from zoo.models.deeplab import build_deeplab

    return build_deeplab(checkpoint)


def _deeplab_preprocess(image, mask, crop_size: int = 513):
    from zoo.models.deeplab import preprocess

    return preprocess(image, mask, crop_size)


def _argmax_masks(outputs, _targets):
    from zoo.tasks.segmentation import argmax_masks

    return argmax_masks(outputs)


def _msrresnet(checkpoint):
    from zoo.models.msrresnet import build_msrresnet

    return build_msrresnet(checkpoint)


def _sr_tiny(checkpoint):
    from zoo.models.sr_tiny import build_sr_tiny

    return build_sr_tiny(checkpoint)


def _lr_float_to_tensor(lr):
    from zoo.datasets.super_resolution import lr_to_tensor

    return lr_to_tensor(lr)


def _lr_uint8_to_tensor(lr):
    from zoo.datasets.sr_photos import to_tensor

    return to_tensor(lr)


def _rgb01_to_uint8(outputs, _targets):
    from zoo.tasks.super_resolution import rgb01_to_uint8

    return rgb01_to_uint8(outputs)


def _deepspeech2(checkpoint):
    from zoo.checkpoints import CheckpointError
    from zoo.models.deepspeech2 import DEEPSPEECH_LABELS, build_deepspeech2

    model = build_deepspeech2(checkpoint)
    if model.config.labels != DEEPSPEECH_LABELS:
        raise CheckpointError(f"{checkpoint}: labels {model.config.labels!r} differ from {DEEPSPEECH_LABELS!r}, "
                              f"which the transcripts are decoded with (zoo/models/__init__.py)")
    return model


def _spectrogram(samples):
    from zoo.models.deepspeech2 import SpectrogramPreprocess

    return SpectrogramPreprocess()(samples)


def _greedy_transcripts(outputs, _targets):
    """Per utterance: the greedy CTC transcript (DeepSpeech2 labels) as UTF-8 bytes."""
    from zoo.models.deepspeech2 import DEEPSPEECH_LABELS, greedy_decode
    from zoo.tasks.speech import transcript_bytes

    return [(transcript_bytes(text),) for text in greedy_decode(torch.from_numpy(outputs[0]), DEEPSPEECH_LABELS)]


def _keras_resnet50_slim(checkpoint):
    from zoo.models.keras_resnet50_slim import build_keras_resnet50_slim

    return build_keras_resnet50_slim(checkpoint)


def _keras_mobilenet_v2_140(checkpoint):
    from zoo.models.keras_mobilenet_v2_slim import build_keras_mobilenet_v2_slim

    # a TF checkpoint is named by its prefix; the registry pins the .index file beside the data shards
    return build_keras_mobilenet_v2_slim(checkpoint.with_suffix("") if checkpoint else None)


def _keras_srgan(checkpoint):
    from zoo.models.keras_srgan import build_keras_srgan

    return build_keras_srgan(checkpoint)


def _hwc_to_chw(array) -> torch.Tensor:
    """The datasets yield CHW tensors; the Keras runner transposes batches back to NHWC."""
    import numpy as np

    return torch.from_numpy(np.ascontiguousarray(np.asarray(array, dtype=np.float32).transpose(2, 0, 1)))


def _vgg_preprocess(image):
    from zoo.models.keras_resnet50_slim import preprocess_resnet50_slim

    return _hwc_to_chw(preprocess_resnet50_slim(image))


def _inception_preprocess(image):
    from zoo.models.keras_mobilenet_v2_slim import preprocess_mobilenet_v2_slim

    return _hwc_to_chw(preprocess_mobilenet_v2_slim(image))


def _drop_background_class(outputs, _targets):
    """slim's 1001-way ImageNet logits -> the 1000 classes (index 0 is background)."""
    return [(logits[1:],) for logits in outputs[0]]


def _lr_float_to_0_255(lr):
    """krasserm's generator takes the LR image on the 0..255 scale and normalises itself."""
    return _hwc_to_chw(lr * 255.0)


def _lr_uint8_to_0_255(lr):
    return _hwc_to_chw(lr)


def _rgb255_nhwc_to_uint8(outputs, _targets):
    from zoo.tasks.super_resolution import rgb255_nhwc_to_uint8

    return rgb255_nhwc_to_uint8(outputs)


def _pose(checkpoint):
    from zoo.models.pose import build_pose

    return build_pose(checkpoint)


def _pose_preprocess(image):
    from zoo.models.pose import preprocess

    return preprocess(image)


def _pose_decode(outputs, images):
    """Per image: heatmaps + PAFs upsampled to the image, peaks, limbs and skeletons (the zoo's eval script)."""
    from zoo.models.pose import decode_coco_keypoints
    from zoo.tasks.pose import people_arrays

    heatmaps, pafs = (torch.from_numpy(o) for o in outputs)
    return [people_arrays(decode_coco_keypoints(h[None], p[None], 0, image.height, image.width))
            for h, p, image in zip(heatmaps, pafs, images)]


def _keras_ssd_mobilenet_v2(checkpoint):
    """The checkpoint is pinned by its ``model.ckpt.index`` file; TensorFlow reads the ``model.ckpt`` prefix."""
    from zoo.models.keras_ssd_mobilenet_v2 import build_ssd_mobilenet_v2

    return build_ssd_mobilenet_v2(checkpoint.with_suffix("") if checkpoint and checkpoint.suffix == ".index"
                                  else checkpoint)


def _keras_pose(checkpoint):
    """With no checkpoint, the PyTorch pose model's seeded initialisation converted to Keras: Keras's own
    initialisation leaves this 6-stage network's outputs near zero (output SQNR 7.5 dB at W8A8, vs 46.6 dB
    for the same recipe on PyTorch's initialisation)."""
    from zoo.models.keras_pose import build_keras_pose, load_torch_state_dict

    if checkpoint is not None:
        return build_keras_pose(checkpoint)
    return load_torch_state_dict(build_keras_pose(None), _pose(None).state_dict(), "seeded zoo.models.pose.PoseModel")


def _pose_tiny(checkpoint):
    from zoo.models.pose_tiny import build_pose_tiny

    return build_pose_tiny(checkpoint)


def _pose_tiny_preprocess(image):
    from zoo.models.pose_tiny import preprocess

    return preprocess(image)


def _pose_tiny_decode(outputs, targets):
    from zoo.models.pose_tiny import people_per_image

    return people_per_image(outputs, targets)


def _mobilenet_v2(checkpoint):
    from zoo.checkpoints import load_state_dict, load_strict
    from zoo.models.mobilenet_v2 import MobileNetV2

    model = MobileNetV2(activation=nn.ReLU)  # the AIMET zoo's variant, see zoo/models/mobilenet_v2.py
    return load_strict(model, load_state_dict(checkpoint), checkpoint) if checkpoint else model


# TF-ported Lite0 weights take (x - 127) / 128; timm's tf_ cfg: crop_pct 0.875, bicubic
TF_LITE0_PREPROCESS = Preprocess(256, 224, "bicubic", mean=(127 / 255,) * 3, std=(128 / 255,) * 3)

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        # AIMET zoo eval_efficientnetlite0: Resize(256) + CenterCrop(224), bilinear, ImageNet mean/std
        ModelSpec("efficientnet_lite0", _efficientnet_lite0, Preprocess(256, 224, "bilinear")),
        ModelSpec("tf_efficientnet_lite0", _tf_efficientnet_lite0, TF_LITE0_PREPROCESS),
        ModelSpec("keras_efficientnet_lite0", _keras_efficientnet_lite0, TF_LITE0_PREPROCESS),
        # qfgaohao eval_ssd.py: cv2 resize to 300, (x - 127) / 128; decoding and NMS outside the quantized graph
        ModelSpec("ssd_mobilenet_v2_lite", _ssd_lite, _ssd_lite_preprocess, 300, _ssd_lite_decode),
        # jfzhang95 transform_val: FixScaleCrop(513), ImageNet mean/std; the smoke case crops 257 (same network)
        ModelSpec("deeplab_v3plus_mobilenet", _deeplab, _deeplab_preprocess, 513, _argmax_masks),
        ModelSpec("deeplab_v3plus_mobilenet_257", _deeplab, partial(_deeplab_preprocess, crop_size=257), 257,
                  _argmax_masks),
        # mmsr MSRResNet x4: RGB in [0, 1] (benchmarks: MATLAB-bicubic LR as float; photos: PIL-bicubic uint8 LR)
        ModelSpec("msrresnet_x4", _msrresnet, _lr_float_to_tensor, 0, _rgb01_to_uint8),
        ModelSpec("msrresnet_x4_photos", _msrresnet, _lr_uint8_to_tensor, 0, _rgb01_to_uint8),
        ModelSpec("msrresnet_tiny_x4", _sr_tiny, _lr_uint8_to_tensor, 0, _rgb01_to_uint8),
        # deepspeech.pytorch V2: log1p |STFT| (20 ms hamming, 10 ms hop), per-utterance normalised; greedy CTC
        ModelSpec("deepspeech2", _deepspeech2, _spectrogram, 0, _greedy_transcripts),
        # TensorFlow half (Keras; NHWC inside, CHW tensors from the datasets)
        # slim vgg_preprocessing eval: shorter side 256, central crop 224, RGB mean subtraction
        ModelSpec("keras_resnet50_v1_slim", _keras_resnet50_slim, _vgg_preprocess),
        # slim inception_preprocessing eval: central crop 87.5 %, bilinear 224, [-1, 1]; 1001 classes
        ModelSpec("keras_mobilenet_v2_140_slim", _keras_mobilenet_v2_140, _inception_preprocess, 224,
                  _drop_background_class),
        # krasserm sr_resnet: LR on 0..255, output on 0..255 (any input size)
        ModelSpec("keras_srgan", _keras_srgan, _lr_float_to_0_255, 0, _rgb255_nhwc_to_uint8),
        ModelSpec("keras_srgan_photos", _keras_srgan, _lr_uint8_to_0_255, 0, _rgb255_nhwc_to_uint8),
        # the AIMET zoo's TF pose script (evaluate_session, fast=False): height 368, cubic, pad to 8, x/256 - 0.5;
        # the Keras port loads the PyTorch release's state_dict (same network), the TF release loads as a graph
        # TF object detection API SSD MobileNet-v2 (300x300 fixed_shape_resizer, (2/255)x - 1); anchors, box
        # decoding, sigmoid and NMS outside the quantized graph, as the AIMET zoo script's quantsim region
        ModelSpec("keras_ssd_mobilenet_v2", _keras_ssd_mobilenet_v2, _lazy("zoo.models.keras_ssd_mobilenet_v2:preprocess"),
                  300, _lazy("zoo.models.keras_ssd_mobilenet_v2:reduce")),
        # keras-retinanet ResNet-50: caffe BGR means, cv2-linear resize to min side 800 / max 1333, any input
        # size (batch 1); anchors, bbox_transform_inv, clipping and class-wise NMS outside the quantized graph
        ModelSpec("keras_retinanet_resnet50", _lazy("zoo.models.keras_retinanet:build_retinanet_resnet50"),
                  _lazy("zoo.models.keras_retinanet:preprocess"), 0, _lazy("zoo.models.keras_retinanet:reduce")),
        # the same network and code at min side 192 / max 320: a CPU-sized smoke input
        ModelSpec("keras_retinanet_resnet50_192", _lazy("zoo.models.keras_retinanet:build_retinanet_resnet50"),
                  partial(_lazy("zoo.models.keras_retinanet:preprocess"), min_side=192, max_side=320), 0,
                  partial(_lazy("zoo.models.keras_retinanet:reduce"), min_side=192, max_side=320)),
        ModelSpec("tf_pose_release", _lazy("zoo.models.tf_meta_graph:build_tf_pose_release"),
                  _lazy("zoo.models.keras_pose:preprocess"), 0, _lazy("zoo.models.keras_pose:reduce")),
        ModelSpec("keras_pose", _keras_pose,
                  _lazy("zoo.models.keras_pose:preprocess"), 0, _lazy("zoo.models.keras_pose:reduce")),
        # AIMET zoo PyTorch pose estimation (OpenPose-style): resize to 496x384 (or 384x496), stride 8
        ModelSpec("pose_estimation", _pose, _pose_preprocess, 0, _pose_decode),
        # the embedded tier's single-person heatmap net (fixtures/pose): 128x96 input, 17 heatmaps at stride 4
        ModelSpec("pose_tiny", _pose_tiny, _pose_tiny_preprocess, 0, _pose_tiny_decode),
        # the embedded tier's small members of the two VOC families (fixtures/voc): 160x160 input
        ModelSpec("ssd_lite_tiny", _ssd_lite_tiny, _ssd_lite_tiny_preprocess, 160,
                  partial(_ssd_lite_decode, priors="tiny")),
        ModelSpec("deeplab_tiny", _deeplab_tiny, _deeplab_tiny_preprocess, 160, _argmax_masks),
        # ReLU variant of the AIMET zoo. tonylins README: Resize(int(224 / 0.875)) + CenterCrop(224), bilinear, ImageNet mean/std
        ModelSpec("mobilenet_v2", _mobilenet_v2, Preprocess(256, 224, "bilinear", IMAGENET_MEAN, IMAGENET_STD)),
    )
}


def recalibrate_batchnorm(model: nn.Module, images: list[torch.Tensor], batch_size: int = 16) -> nn.Module:
    """Re-estimate every BatchNorm's running statistics on ``images`` (cumulative average).

    Seeded random weights give activations that shrink layer by layer to ~1e-9 at the
    logits of a deep network, which quantizes to zero; with statistics measured on real
    images every BN output is normalized again, so the network is well-conditioned.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    if len({tuple(image.shape) for image in images}) > 1:
        batch_size = 1  # inputs of different lengths (utterances) cannot share a batch
    model.train()
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            model(torch.stack(images[i:i + batch_size]))
    return model.eval()
