"""Tiny VOC models of the embedded tier (zoo/families/ssd_lite/tiny.py, zoo/families/deeplab/tiny.py) and their committed weights.

The weights come from fixtures/voc/train_embedded.py; models.json records their hashes. The sanity
checks regenerate the synthetic VOC tree (the committed generator, 200 images, seed 0) and score a
few test-split images with the trained and with untrained models.
"""
import importlib.util
import json
import math
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.checkpoints import sha256_of
from zoo.data.synthetic.voc import generate
from zoo.data.real.voc import VocDetection, VocSegmentation, objects_as_arrays
from zoo.metrics.detection import ImageGroundTruth, mean_ap
from zoo.metrics.segmentation import ConfusionMatrix
from zoo.families.deeplab.tiny import DEEPLAB_WEIGHTS, TinyDeepLab, build_tiny_deeplab, preprocess_segmentation
from zoo.families.ssd_lite.tiny import (INPUT_SIZE, MODELS_JSON, SSD_WEIGHTS, VOC_FIXTURES, TinySSDLite,
                                        build_tiny_ssd_lite, preprocess_detection, tiny_ssd_detections,
                                        tiny_ssd_priors)

MAX_BYTES = 3 * 1024 * 1024
SANITY_IMAGES = 8  # an untrained SSD keeps ~200 boxes per class per image: NMS dominates the time
TRAIN_SCRIPT = VOC_FIXTURES / "train_embedded.py"


@pytest.fixture(scope="module")
def train_script():
    spec = importlib.util.spec_from_file_location("train_embedded", TRAIN_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def voc_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc")
    generate(root, 200, 0)
    return root


@pytest.mark.parametrize("path", [SSD_WEIGHTS, DEEPLAB_WEIGHTS], ids=lambda p: p.name)
def test_committed_weights_match_models_json(path):
    entry = json.loads(MODELS_JSON.read_text())[path.name]
    assert sha256_of(path) == entry["sha256"]
    assert path.stat().st_size == entry["bytes"] <= MAX_BYTES
    assert entry["command"].startswith("python fixtures/voc/train_embedded.py")
    assert entry["seconds"] <= 6 * 60 and entry["epochs"] > 0 and math.isfinite(entry["final_train_loss"])


def test_committed_weights_load_strictly():
    ssd, deeplab = build_tiny_ssd_lite(SSD_WEIGHTS), build_tiny_deeplab(DEEPLAB_WEIGHTS)
    assert isinstance(ssd, TinySSDLite) and isinstance(deeplab, TinyDeepLab)
    assert not ssd.training and not deeplab.training
    saved = torch.load(SSD_WEIGHTS, weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in ssd.state_dict().items())


def test_forward_shapes():
    x = torch.zeros(2, 3, INPUT_SIZE, INPUT_SIZE)
    with torch.no_grad():
        confidences, locations = TinySSDLite().eval()(x)
        logits = TinyDeepLab().eval()(x)
    assert confidences.shape == (2, 3228, 21) and locations.shape == (2, 3228, 4)
    assert logits.shape == (2, 21, INPUT_SIZE, INPUT_SIZE)


def test_priors_by_hand():
    priors = tiny_ssd_priors()
    assert priors.shape == (3228, 4)  # 6 x (20^2 + 10^2 + 5^2 + 3^2 + 2^2)
    c, small, big = 0.5 / 20, 16 / 160, math.sqrt(16 * 40) / 160
    np.testing.assert_allclose(priors[:2].numpy(), [[c, c, small, small], [c, c, big, big]], atol=1e-7)
    # first prior of the 10x10 map: centre 8/160, min size 40
    assert priors[6 * 400].tolist() == pytest.approx([0.05, 0.05, 0.25, 0.25], abs=1e-7)


def test_preprocessing_known_answers():
    image = np.full((150, 200, 3), (255, 127, 0), np.uint8)
    tensor = preprocess_detection(image)
    assert tensor.shape == (3, INPUT_SIZE, INPUT_SIZE)
    assert tensor[:, 80, 80].tolist() == pytest.approx([128 / 128, 0.0, -127 / 128])
    assert torch.equal(preprocess_detection(Image.fromarray(image)), tensor)
    mask = np.zeros((150, 200), np.uint8)
    mask[:, 100:] = 20
    tensor, resized = preprocess_segmentation(Image.fromarray(image), mask)
    assert tensor.shape == (3, INPUT_SIZE, INPUT_SIZE) and resized.shape == (INPUT_SIZE, INPUT_SIZE)
    assert resized[0, :80].max() == 0 and resized[0, 80:].min() == 20  # nearest keeps the edge at the middle
    assert tensor[0, 5, 5].item() == pytest.approx((1.0 - 0.485) / 0.229, rel=1e-6)


def _ssd_map(model, voc_root) -> float:
    dataset = VocDetection(voc_root / "VOC2007", "ImageSets/Main/test.txt")
    items = [dataset[i] for i in range(SANITY_IMAGES)]
    with torch.no_grad():
        confidences, locations = model(torch.stack([preprocess_detection(image) for image, _ in items]))
    detections = [tiny_ssd_detections(conf, loc, image.width, image.height)
                  for (image, _), conf, loc in zip(items, confidences, locations)]
    truths = [ImageGroundTruth(*objects_as_arrays(objects)) for _, objects in items]
    return mean_ap(detections, truths, num_classes=20, use_07_metric=True)


def _deeplab_miou(model, voc_root) -> float:
    dataset = VocSegmentation(voc_root / "VOC2012", "ImageSets/Segmentation/val.txt")
    pairs = [preprocess_segmentation(*dataset[i]) for i in range(SANITY_IMAGES)]
    with torch.no_grad():
        predicted = model(torch.stack([tensor for tensor, _ in pairs])).argmax(dim=1).numpy()
    matrix = ConfusionMatrix()
    for prediction, (_, mask) in zip(predicted, pairs):
        matrix.update(prediction, mask)
    return matrix.miou()


def test_trained_ssd_beats_an_untrained_one(voc_root):
    torch.manual_seed(0)
    trained, untrained = _ssd_map(build_tiny_ssd_lite(SSD_WEIGHTS), voc_root), _ssd_map(build_tiny_ssd_lite(None), voc_root)
    assert trained > untrained + 20.0, (trained, untrained)


def test_trained_deeplab_beats_an_untrained_one(voc_root):
    torch.manual_seed(0)
    trained = _deeplab_miou(build_tiny_deeplab(DEEPLAB_WEIGHTS), voc_root)
    untrained = _deeplab_miou(build_tiny_deeplab(None), voc_root)
    assert trained > untrained + 20.0, (trained, untrained)


def test_prior_assignment_by_hand(train_script):
    priors = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    boxes = torch.tensor([[0.0, 0.0, 0.4, 0.4], [0.6, 0.6, 1.0, 1.0]])  # IoU 0.64 with priors 0 and 1, 0.16 with 2
    matched, labels = train_script.assign_priors(boxes, torch.tensor([3, 7]), priors)
    assert labels.tolist() == [3, 7, 0] and torch.equal(matched[:2], boxes)
    # best IoU 0.405 (prior 0) is under 0.5, but every ground truth claims its best prior
    _, labels = train_script.assign_priors(torch.tensor([[0.0, 0.0, 0.9, 0.3]]), torch.tensor([5]), priors)
    assert labels.tolist() == [5, 0, 0]
    _, labels = train_script.assign_priors(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), priors)
    assert labels.tolist() == [0, 0, 0]


def test_hard_negative_mining_by_hand(train_script):
    background_loss = torch.tensor([[0.1, 0.9, 0.5, 0.3, 0.7]])
    labels = torch.tensor([[0, 1, 0, 0, 0]])
    assert train_script.hard_negative_mining(background_loss, labels, 3).tolist() == [[False, True, True, True, True]]
    assert train_script.hard_negative_mining(background_loss, labels, 1).tolist() == [[False, True, False, False, True]]
    assert not train_script.hard_negative_mining(background_loss, torch.zeros_like(labels), 3).any()
