"""MobileNetV2-SSD-Lite (qfgaohao/pytorch-ssd @ 7a839cb): keys, shapes, priors, decoding, NMS, preprocessing.

Reference facts were read off the source's own create_mobilenetv2_ssd_lite(21, width_mult=1.0)
and mobilenetv1_ssd_config.priors, built from vision/ at that commit (cv2 stubbed, torch 2.14.1).
"""
import hashlib
import math

import numpy as np
import pytest
import torch
from torch import nn

from zoo.checkpoints import load_state_dict, load_strict
from zoo.families.ssd_lite.torch import (MobileNetV2SSDLite, SSDDetections, center_form_to_corner_form,
                                 convert_locations_to_boxes, cv2_resize_linear, generate_priors, hard_nms, postprocess,
                                 preprocess, to_image_detections)

# source state_dict: 478 entries = 404 weights/BN buffers + 74 BatchNorm num_batches_tracked,
# 3,438,340 elements without num_batches_tracked (3,388,228 parameters)
SOURCE_KEY_COUNT = 478
SOURCE_ELEMENTS = 3_438_340
# sha256 of "\n".join(f"{key} {tuple(shape)}") over the source state_dict, in its order
SOURCE_KEYS_SHA256 = "eb90e01fb8531512add82fcf481276fec346f78672570a7a5e6c44277f2fb797"
SOURCE_SAMPLE_SHAPES = {
    "base_net.0.0.weight": (32, 3, 3, 3),
    "base_net.14.conv.0.weight": (576, 96, 1, 1),     # the expand conv the first head taps
    "base_net.18.0.weight": (1280, 320, 1, 1),
    "extras.0.conv.0.weight": (256, 1280, 1, 1),      # round(1280 * 0.2)
    "extras.3.conv.6.weight": (64, 64, 1, 1),
    "classification_headers.0.0.weight": (576, 1, 3, 3),  # depthwise of SeperableConv2d
    "classification_headers.0.3.weight": (126, 576, 1, 1),
    "classification_headers.5.weight": (126, 64, 1, 1),    # the final plain 1x1 Conv2d
    "regression_headers.0.3.bias": (24,),
    "regression_headers.5.bias": (24,),
}
SOURCE_RELU6_COUNT = 53  # and no nn.ReLU: the checkpoint's model is not onnx_compatible


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MobileNetV2SSDLite().eval()


def test_state_dict_matches_the_source(model):
    sd = model.state_dict()
    assert len(sd) == SOURCE_KEY_COUNT
    assert sum(v.numel() for k, v in sd.items() if not k.endswith("num_batches_tracked")) == SOURCE_ELEMENTS
    listing = "\n".join(f"{k} {tuple(v.shape)}" for k, v in sd.items())
    assert hashlib.sha256(listing.encode()).hexdigest() == SOURCE_KEYS_SHA256
    assert {k: tuple(sd[k].shape) for k in SOURCE_SAMPLE_SHAPES} == SOURCE_SAMPLE_SHAPES
    assert next(iter(sd)) == "base_net.0.0.weight" and list(sd)[-1] == "regression_headers.5.bias"


def test_activations_are_the_sources(model):
    assert sum(isinstance(m, nn.ReLU6) for m in model.modules()) == SOURCE_RELU6_COUNT
    assert not any(type(m) is nn.ReLU for m in model.modules())
    relu = MobileNetV2SSDLite(activation=nn.ReLU)
    assert not any(isinstance(m, nn.ReLU6) for m in relu.modules())
    assert list(relu.state_dict()) == list(model.state_dict())


def test_forward_shapes_and_head_inputs(model):
    seen = []
    hooks = [h.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape[1:])))
             for h in model.classification_headers]
    with torch.no_grad():
        confidences, locations = model(torch.zeros(1, 3, 300, 300))
    for h in hooks:
        h.remove()
    assert confidences.shape == (1, 3000, 21) and locations.shape == (1, 3000, 4)
    # the first head sees features[14].conv[0..2] (576 channels, 19x19), the second the 1280-channel output
    assert seen == [(576, 19, 19), (1280, 10, 10), (512, 5, 5), (256, 3, 3), (256, 2, 2), (64, 1, 1)]


def test_loads_its_own_saved_state_dict(model, tmp_path):
    path = tmp_path / "mb2-ssd-lite.pth"
    torch.save(model.state_dict(), path)
    torch.manual_seed(1)
    other = load_strict(MobileNetV2SSDLite().eval(), load_state_dict(path), path)
    x = torch.randn(1, 3, 300, 300)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model(x), other(x)))


def test_priors_by_hand():
    priors = generate_priors()
    assert priors.shape == (3000, 4)  # 6 boxes x (19^2 + 10^2 + 5^2 + 3^2 + 2^2 + 1)
    c = 0.5 / (300 / 16)  # first 19x19 cell centre
    small, big, r = 60 / 300, math.sqrt(60 * 105) / 300, math.sqrt(2)
    expected_first_cell = [[c, c, small, small], [c, c, big, big], [c, c, small * r, small / r], [c, c, small / r, small * r]]
    np.testing.assert_allclose(priors[:4].numpy(), expected_first_cell, atol=1e-7)
    # cells run x fastest: row 1, column 2 of the 19x19 map is cell 21
    assert priors[21 * 6].tolist() == pytest.approx([2.5 / 18.75, 1.5 / 18.75, 0.2, 0.2], abs=1e-7)
    # first prior of the 10x10 map (shrinkage 32, min size 105)
    assert priors[6 * 361].tolist() == pytest.approx([16 / 300, 16 / 300, 0.35, 0.35], abs=1e-7)
    # last prior, 1x1 map, 285 / sqrt(3) wide and 285 * sqrt(3) tall, clamped to 1
    assert priors[-1].tolist() == pytest.approx([0.5, 0.5, 0.95 / math.sqrt(3), 1.0], abs=1e-7)
    assert generate_priors(clamp=False)[-1, 3].item() == pytest.approx(0.95 * math.sqrt(3))


def test_decode_known_answers():
    priors = generate_priors()
    assert torch.allclose(convert_locations_to_boxes(torch.zeros(2, 3000, 4), priors), priors.expand(2, -1, -1))
    prior = torch.tensor([[0.5, 0.5, 0.2, 0.4]])
    # dx = 1 moves the centre by center_variance * w; dw = ln(2) / size_variance doubles w
    box = convert_locations_to_boxes(torch.tensor([[1.0, 0.0, math.log(2) / 0.2, 0.0]]), prior)
    assert box[0].tolist() == pytest.approx([0.52, 0.5, 0.4, 0.4])
    assert center_form_to_corner_form(box)[0].tolist() == pytest.approx([0.32, 0.3, 0.72, 0.7])


def test_nms_keeps_the_higher_score_of_an_overlapping_pair():
    rows = torch.tensor([
        [0.0, 0.0, 10.0, 10.0, 0.6],
        [1.0, 0.0, 11.0, 10.0, 0.9],    # IoU 90/110 with the first
        [50.0, 50.0, 60.0, 60.0, 0.3],  # disjoint
    ])
    kept = hard_nms(rows)
    assert kept[:, 4].tolist() == pytest.approx([0.9, 0.3])
    assert hard_nms(rows, iou_threshold=0.95)[:, 4].tolist() == pytest.approx([0.9, 0.6, 0.3])
    assert hard_nms(rows, top_k=1)[:, 4].tolist() == pytest.approx([0.9])
    assert hard_nms(rows, candidate_size=2, iou_threshold=0.95)[:, 4].tolist() == pytest.approx([0.9, 0.6])
    # IoU 6.4 / 13.6 = 0.47: suppressed at the source's 0.45, kept at 0.5
    near = torch.tensor([[0.0, 0.0, 10.0, 10.0, 0.9], [3.6, 0.0, 13.6, 10.0, 0.8]])
    assert len(hard_nms(near)) == 1 and len(hard_nms(near, iou_threshold=0.5)) == 2


def test_postprocess_one_confident_prior():
    confidences = torch.zeros(3000, 21)
    confidences[:, 0] = math.log(1 / 0.009 - 20)  # background: every class at probability 0.009, under 0.01
    confidences[-1] = 0.0
    confidences[-1, 12] = 10.0  # class 12 (dog, VOC_CLASSES[11]) on the last prior
    found = postprocess(confidences, torch.zeros(3000, 4), width=500, height=375)
    half_w = 0.95 / math.sqrt(3) / 2
    assert found.labels.tolist() == [12]
    assert found.boxes[0].tolist() == pytest.approx([(0.5 - half_w) * 500, 0.0, (0.5 + half_w) * 500, 375.0], rel=1e-6)
    assert found.scores[0] == pytest.approx(math.exp(10) / (math.exp(10) + 20), rel=1e-6)
    confidences[-1] = confidences[0]
    empty = postprocess(confidences, torch.zeros(3000, 4), 500, 375)
    assert empty.boxes.shape == (0, 4) and len(empty.labels) == 0 and len(empty.scores) == 0


def test_adapter_shifts_labels_and_boxes_by_one():
    found = SSDDetections(np.array([[10.0, 20.0, 30.0, 40.0], [0.0, 0.0, 5.0, 5.0]]), np.array([1, 20]), np.array([0.9, 0.2]))
    converted = to_image_detections(found)
    assert converted.labels.tolist() == [0, 19]  # background slot dropped: VOC_CLASSES order
    assert converted.boxes.tolist() == [[11.0, 21.0, 31.0, 41.0], [1.0, 1.0, 6.0, 6.0]]  # eval_ssd.py's "+ 1.0"
    assert converted.scores.tolist() == [0.9, 0.2]


def test_resize_matches_opencv_fixed_point():
    # cv2.resize(img, (4, 4)) of opencv-python-headless 5.0.0.93; a float bilinear rounded to
    # uint8 gives 136 and 70 where OpenCV gives 135 and 69
    gray = np.array([[5, 157, 159], [60, 54, 236], [109, 46, 199]], dtype=np.uint8)
    opencv = [[5, 100, 158, 159], [39, 73, 135, 207], [78, 61, 115, 222], [109, 69, 103, 199]]
    resized = cv2_resize_linear(np.repeat(gray[:, :, None], 3, axis=2), 4)
    assert all(resized[:, :, c].tolist() == opencv for c in range(3))


def test_preprocess_scales_as_the_source():
    image = np.zeros((375, 500, 3), dtype=np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 255, 127, 0  # R, G, B
    x = preprocess(image)
    assert x.shape == (3, 300, 300) and x.dtype == torch.float32
    assert x[:, 0, 0].tolist() == [128 / 128, 0.0, -127 / 128]  # (v - 127) / 128, channels stay RGB
    with pytest.raises(ValueError, match="RGB uint8"):
        preprocess(image.astype(np.float32))
