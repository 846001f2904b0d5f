"""Pose (AIMET zoo), MSRResNet (mmsr), DeepSpeech2 (deepspeech.pytorch V2): keys, forwards, loading, decoding.

Reference key facts were read off the sources' own models, built in a scratch directory with torch
2.14.1: get_model() of quic/aimet-model-zoo zoo_torch/examples/poseestimation/pose_estimation_quanteval.py
(commit 0df872e; cv2/aimet imports stubbed), MSRResNet of andreas128/mmsr codes/models/archs/SRResNet_arch.py
(a73b318) and DeepSpeech of SeanNaren/deepspeech.pytorch model.py (tag v2.0). With the sources' weights
copied in, the forwards here matched theirs exactly (max difference 0.0), and the pose decoding
matched estimate_pose + parse_results + get_results_json result for result on clean and cluttered maps.
"""
import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from zoo.checkpoints import CheckpointError
from zoo.metrics.keypoints import coco_keypoint_stats
from zoo.metrics.speech import DEEPSPEECH_LABELS
from zoo.families.deepspeech2 import torch as ds
from zoo.families.pose import torch as pose
from zoo.families.srgan.torch import MSRResNet, build_msrresnet, to_uint8_image


def listing_sha256(state_dict) -> str:
    return hashlib.sha256("\n".join(f"{k} {tuple(v.shape)}" for k, v in state_dict.items()).encode()).hexdigest()


def elements(state_dict) -> int:
    return sum(v.numel() for v in state_dict.values())


# ----------------------------------------------------------------------------- pose

POSE_KEY_COUNT = 98  # 62 conv weights + 36 biases: the first conv of each factorised pair has none
POSE_ELEMENTS = 3_341_874
POSE_KEYS_SHA256 = "d4e585603272d81cc4ddec60d3fb4ef79a83a891bddfe4d7513c57ef4be0f1bd"
POSE_SAMPLE_SHAPES = {
    "basemodel.0.weight": (32, 3, 3, 3),
    "basemodel.2.0.weight": (16, 32, 3, 1),      # factorised pair: 3x1 without bias ...
    "basemodel.2.1.weight": (32, 16, 1, 3),      # ... then 1x3 with bias
    "basemodel.2.1.bias": (32,),
    "basemodel.21.0.weight": (192, 512, 3, 1),
    "pre_stage.2.weight": (128, 256, 3, 3),      # conv4_4_CPM
    "stage1_shared.0.0.weight": (112, 128, 7, 1),
    "stage2_shared.0.0.weight": (128, 185, 7, 1),  # 38 PAF + 19 heatmap + 128 feature channels
    "stage2_shared.2.1.weight": (128, 112, 1, 7),
    "stage1_1.8.weight": (38, 128, 1, 1),
    "stage2_1.8.bias": (38,),
    "stage1_2.2.0.weight": (32, 128, 3, 1),
    "stage2_2.2.0.weight": (48, 128, 3, 1),      # sequential4_channel differs between the stages
    "stage2_2.8.weight": (19, 128, 1, 1),
}
POSE_RELUS = 32
POSE_BIASES = 36


@pytest.fixture(scope="module")
def pose_model():
    torch.manual_seed(0)
    return pose.build_pose(None)


def test_pose_state_dict_matches_the_source(pose_model):
    sd = pose_model.state_dict()
    assert len(sd) == POSE_KEY_COUNT and elements(sd) == POSE_ELEMENTS
    assert listing_sha256(sd) == POSE_KEYS_SHA256
    assert {k: tuple(sd[k].shape) for k in POSE_SAMPLE_SHAPES} == POSE_SAMPLE_SHAPES
    assert sum(k.endswith(".bias") for k in sd) == POSE_BIASES
    assert sum(isinstance(m, torch.nn.ReLU) for m in pose_model.modules()) == POSE_RELUS
    assert list(sd)[0] == "basemodel.0.weight" and list(sd)[-1] == "stage2_2.8.bias"


def test_pose_forward_returns_stage2_heatmaps_and_pafs(pose_model):
    with torch.no_grad():
        heatmaps, pafs = pose_model(torch.zeros(2, 3, 64, 48))
    assert heatmaps.shape == (2, 19, 8, 6) and pafs.shape == (2, 38, 8, 6)  # stride 8
    stage2_heatmap = []
    hook = pose_model.stage2_2.register_forward_hook(lambda m, i, o: stage2_heatmap.append(o))
    with torch.no_grad():
        heatmaps, _ = pose_model(torch.rand(1, 3, 32, 40))
    hook.remove()
    assert torch.equal(heatmaps, stage2_heatmap[0])


def test_pose_checkpoint_round_trip_and_strictness(pose_model, tmp_path):
    path = tmp_path / "pe_weights.pth"
    torch.save({f"module.{k}": v for k, v in pose_model.state_dict().items()}, path)
    torch.manual_seed(1)
    loaded = pose.build_pose(path)
    x = torch.rand(1, 3, 40, 48)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(loaded(x), pose_model(x)))
    partial = dict(pose_model.state_dict())
    del partial["stage2_2.8.weight"]
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match=r"missing \['stage2_2.8.weight'\]"):
        pose.build_pose(tmp_path / "partial.pth")


@pytest.mark.parametrize("size, expected", [((640, 480), (384, 496)), ((480, 640), (496, 384)), ((300, 300), (496, 384))])
def test_pose_preprocess_size_and_scaling(size, expected):
    image = Image.new("RGB", size, (200, 100, 0))
    x = pose.preprocess(image)
    assert tuple(x.shape) == (3, *expected)
    # RGB order kept (the source flips cv2's BGR to RGB), x / 256 - 0.5
    assert torch.equal(x[:, 0, 0], torch.tensor([200 / 256 - 0.5, 100 / 256 - 0.5, -0.5]))


def test_pose_resize_is_bilinear_with_half_pixel_centres():
    ramp = np.tile(np.arange(0, 64, 2, dtype=np.uint8)[None, :, None], (4, 1, 3))  # 32 wide, step 2
    resized = pose.resize_linear_uint8(ramp, 16, 4)                             # halve the width
    assert resized.shape == (4, 16, 3)
    # output x samples input x = 2x + 0.5: the mean of two neighbours, 4x + 1
    assert np.array_equal(resized[0, :, 0], 4 * np.arange(16) + 1)


def test_pose_resize_agrees_with_the_ssd_lite_opencv_resize():
    from zoo.families.ssd_lite.torch import cv2_resize_linear  # bit-exact to OpenCV, square outputs only

    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    for size in (16, 300):
        assert np.array_equal(pose.resize_linear_uint8(image, size, size), cv2_resize_linear(image, size))


def test_upsample_outputs_resizes_to_the_image():
    heatmaps = torch.full((19, 6, 8), 0.25)
    pafs = torch.arange(38.0)[:, None, None].expand(38, 6, 8)
    heatmap, paf = pose.upsample_outputs(heatmaps, pafs, 45, 61)
    assert heatmap.shape == (45, 61, 19) and paf.shape == (45, 61, 38)
    assert np.allclose(heatmap, 0.25) and np.allclose(paf[17, 30], np.arange(38.0))


# one person, OpenPose part order, (x, y) in a 160 x 200 (H x W) image; limbs at most 80 px long,
# so 0.5 * H / length - 1 >= 0 and no long-limb penalty applies
PERSON = ((100, 30), (100, 50), (84, 50), (78, 72), (76, 94), (116, 50), (122, 72), (124, 94), (90, 96),
          (89, 122), (88, 148), (110, 96), (111, 122), (112, 148), (95, 26), (105, 26), (90, 28), (110, 28))
IMAGE_HW = (160, 200)


def synthetic_maps(person=PERSON, reverse_pafs=False, stride=1, sigma=2.0, band=2.0):
    """Heatmaps with a Gaussian (peak 1) per part and PAFs of unit vectors within ``band`` px of each limb,
    sampled at the centres of ``stride`` x ``stride`` cells of the 160 x 200 image (bilinear's half-pixel grid)."""
    height, width = IMAGE_HW[0] // stride, IMAGE_HW[1] // stride
    yy, xx = (np.mgrid[0:height, 0:width] + 0.5) * stride - 0.5
    heatmap = np.zeros((height, width, pose.NUM_HEATMAPS), np.float32)
    paf = np.zeros((height, width, pose.NUM_PAFS), np.float32)
    for part, (x, y) in enumerate(person):
        heatmap[:, :, part] = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))
    for (a, b), (cx, cy) in zip(pose.LIMBS, pose.LIMB_PAF_CHANNELS):
        start, end = np.array(person[a], float), np.array(person[b], float)
        length = np.linalg.norm(end - start)
        direction = (end - start) / length
        along = np.clip((xx - start[0]) * direction[0] + (yy - start[1]) * direction[1], 0, length)
        near = np.hypot(xx - start[0] - along * direction[0], yy - start[1] - along * direction[1]) <= band
        paf[:, :, cx][near], paf[:, :, cy][near] = -direction if reverse_pafs else direction
    return heatmap, paf


def test_pose_decoding_recovers_the_synthetic_skeleton():
    heatmap, paf = synthetic_maps()
    skeletons, peaks = pose.decode_skeletons(heatmap, paf)
    assert [len(p) for p in peaks] == [1] * 18
    assert [tuple(p[0, :2]) for p in peaks] == [tuple(map(float, xy)) for xy in PERSON]
    assert skeletons.shape == (1, 20)
    assert list(skeletons[0, :18]) == list(range(18))  # peak ids, one per part
    assert skeletons[0, -1] == 18
    # 18 part scores of 1 + 17 seeding limbs of alignment 1 (the two ear-shoulder limbs are redundant)
    assert skeletons[0, -2] == pytest.approx(35.0, abs=1e-4)

    results = pose.skeletons_to_coco(7, skeletons, peaks)
    assert len(results) == 1 and results[0]["image_id"] == 7 and results[0]["category_id"] == 1
    keypoints = np.array(results[0]["keypoints"]).reshape(17, 3)
    for part, (x, y) in enumerate(PERSON):
        if part != pose.NECK:
            assert tuple(keypoints[pose.OPENPOSE_TO_COCO[part]]) == (x - 0.5, y - 0.5, 1.0)
    assert results[0]["score"] == pytest.approx(35.0 / 17, abs=1e-5)

    # the decoded person scores perfectly against ground truth at the same COCO keypoints
    gt_keypoints = keypoints.copy()
    gt_keypoints[:, 2] = 2
    gt = {"images": [{"id": 7, "height": IMAGE_HW[0], "width": IMAGE_HW[1], "file_name": "x.jpg"}],
          "categories": [{"id": 1, "name": "person"}],
          "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "area": 60.0 * 130.0,
                           "bbox": [70.0, 20.0, 60.0, 130.0], "num_keypoints": 17,
                           "keypoints": [float(v) for v in gt_keypoints.reshape(-1)]}]}
    assert coco_keypoint_stats(gt, results)["ap"] == pytest.approx(1.0)


def test_pose_decoding_merges_partial_skeletons_without_a_neck():
    heatmap, paf = synthetic_maps()
    heatmap[:, :, pose.NECK] = 0
    skeletons, peaks = pose.decode_skeletons(heatmap, paf)
    # arms and head seed separate skeletons; the ear-shoulder limbs merge them into one of 11 parts
    # (the legs, 3 parts each, are dropped); score: 11 parts + 8 limbs inside the pieces + 2 merging limbs
    assert skeletons.shape == (1, 20) and skeletons[0, -1] == 11
    assert [part for part in range(18) if skeletons[0, part] >= 0] == [0, 2, 3, 4, 5, 6, 7, 14, 15, 16, 17]
    assert skeletons[0, -2] == pytest.approx(21.0, abs=1e-4)
    assert pose.skeletons_to_coco(1, skeletons, peaks)[0]["score"] == pytest.approx(21.0 / 11, abs=1e-5)


def test_pose_decoding_rejects_limbs_against_the_pafs():
    heatmap, paf = synthetic_maps(reverse_pafs=True)
    skeletons, peaks = pose.decode_skeletons(heatmap, paf)
    assert len(skeletons) == 0 and pose.skeletons_to_coco(1, skeletons, peaks) == []


def test_decode_coco_keypoints_from_stride_8_outputs():
    # the maps on the model's stride-8 grid, decoded through the bilinear upsampling to 160 x 200
    heatmap, paf = synthetic_maps(stride=pose.STRIDE, sigma=6.0, band=6.0)
    heatmaps, pafs = (torch.from_numpy(m).permute(2, 0, 1) for m in (heatmap, paf))
    assert heatmaps.shape == (19, 20, 25)
    results = pose.decode_coco_keypoints(heatmaps, pafs, 3, *IMAGE_HW)
    assert len(results) == 1 and results[0]["image_id"] == 3
    keypoints = np.array(results[0]["keypoints"]).reshape(17, 3)
    truth = np.array([PERSON[p] for p in range(18) if p != pose.NECK], float)
    order = [pose.OPENPOSE_TO_COCO[p] for p in range(18) if p != pose.NECK]
    assert np.all(keypoints[:, 2] == 1)
    assert np.abs(keypoints[order, :2] + 0.5 - truth).max() <= 2


# ----------------------------------------------------------------------------- MSRResNet

MSRRESNET_KEY_COUNT = 74  # conv_first, 16 blocks x 2 convs, upconv1, upconv2, HRconv, conv_last; weight + bias each
MSRRESNET_ELEMENTS = 1_517_571
MSRRESNET_KEYS_SHA256 = "38034769f8da0c8478dbb57d723551beca6d86413cbbb6cf61fa8efc4329b42a"
MSRRESNET_SMALL_KEYS_SHA256 = "1c1397abc8fc8662eca67712934320e7478d18971efdb01b93e510c38f8a311e"  # nf=16, nb=2


def test_msrresnet_state_dict_matches_the_source():
    sd = MSRResNet().state_dict()
    assert len(sd) == MSRRESNET_KEY_COUNT and elements(sd) == MSRRESNET_ELEMENTS
    assert listing_sha256(sd) == MSRRESNET_KEYS_SHA256
    assert tuple(sd["upconv1.weight"].shape) == (256, 64, 3, 3) and tuple(sd["upconv2.weight"].shape) == (256, 64, 3, 3)
    assert tuple(sd["recon_trunk.15.conv2.weight"].shape) == (64, 64, 3, 3)
    assert tuple(sd["conv_last.weight"].shape) == (3, 64, 3, 3)
    small = MSRResNet(nf=16, nb=2).state_dict()
    assert listing_sha256(small) == MSRRESNET_SMALL_KEYS_SHA256 and elements(small) == 31_043
    x2 = MSRResNet(nf=8, nb=1, upscale=2).state_dict()
    assert "upconv2.weight" not in x2 and tuple(x2["upconv1.weight"].shape) == (32, 8, 3, 3)


def test_msrresnet_forward_adds_the_bilinear_base():
    model = MSRResNet(nf=8, nb=1).eval()
    x = torch.rand(2, 3, 6, 7)
    with torch.no_grad():
        assert model(x).shape == (2, 3, 24, 28)
        for p in model.parameters():
            p.zero_()  # the learned branch outputs 0: what remains is the base upsampling
        expected = F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
        assert torch.equal(model(x), expected)
    with pytest.raises(ValueError, match="upscale=5"):
        MSRResNet(upscale=5)


def test_msrresnet_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_msrresnet(None, nf=16, nb=2)
    torch.save({"module." + k: v for k, v in model.state_dict().items()}, tmp_path / "MSRGANx4.pth")
    loaded = build_msrresnet(tmp_path / "MSRGANx4.pth", nf=16, nb=2)
    x = torch.rand(1, 3, 5, 5)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    with pytest.raises(CheckpointError, match="do not match"):
        build_msrresnet(tmp_path / "MSRGANx4.pth", nf=16, nb=3)


def test_to_uint8_image_clamps_and_rounds_as_tensor2img():
    out = torch.tensor([-0.1, 0.5, 1.2, 1 / 255, 0.2]).reshape(1, 5, 1).expand(3, 5, 1)[None]
    image = to_uint8_image(out)
    assert image.shape == (5, 1, 3) and image.dtype == np.uint8
    assert image[:, 0, 0].tolist() == [0, 128, 255, 1, 51]  # 127.5 -> 128, half to even


# ----------------------------------------------------------------------------- DeepSpeech2

V2_KEY_COUNT = 80
V2_ELEMENTS = 86_628_775
V2_KEYS_SHA256 = "a5c315af16a23f956457d5ee6fe9ba3f1e1c787eea68422d81dbb8cc76582d4e"
V2_SAMPLE_SHAPES = {
    "conv.seq_module.0.weight": (32, 1, 41, 11),
    "conv.seq_module.1.running_var": (32,),
    "conv.seq_module.3.weight": (32, 32, 21, 11),
    "rnns.0.rnn.weight_ih_l0": (4096, 1312),       # 32 channels x 41 frequency rows after the convs
    "rnns.0.rnn.weight_hh_l0_reverse": (4096, 1024),
    "rnns.1.batch_norm.module.weight": (1024,),
    "rnns.1.rnn.weight_ih_l0": (4096, 1024),       # directions summed, not concatenated
    "rnns.4.rnn.bias_hh_l0_reverse": (4096,),
    "fc.0.module.0.running_mean": (1024,),
    "fc.0.module.1.weight": (29, 1024),
}
TINY = dict(hidden_size=16, hidden_layers=2)


def test_deepspeech2_v2_state_dict_matches_the_source():
    sd = ds.DeepSpeech2().state_dict()
    assert len(sd) == V2_KEY_COUNT and elements(sd) == V2_ELEMENTS
    assert listing_sha256(sd) == V2_KEYS_SHA256
    assert {k: tuple(sd[k].shape) for k in V2_SAMPLE_SHAPES} == V2_SAMPLE_SHAPES
    assert not any(k.startswith("rnns.0.batch_norm") or k.startswith("lookahead") for k in sd)
    assert ds.rnn_input_size(ds.AudioConf()) == 1312


def test_deepspeech2_unidirectional_has_the_lookahead():
    config = ds.DeepSpeechConfig(rnn_type="gru", hidden_size=24, hidden_layers=2, bidirectional=False)
    sd = ds.DeepSpeech2(config).state_dict()
    assert tuple(sd["lookahead.0.conv.weight"].shape) == (24, 1, 20)
    assert tuple(sd["rnns.1.rnn.weight_ih_l0"].shape) == (72, 24)  # GRU: 3 gates
    with pytest.raises(ValueError, match="rnn_type 'transformer'"):
        ds.DeepSpeechConfig(rnn_type="transformer")


def zero_padded_batch(lengths, bins=161, seed=0):
    x = torch.randn(len(lengths), 1, bins, max(lengths), generator=torch.Generator().manual_seed(seed))
    for i, length in enumerate(lengths):
        x[i, :, :, length:] = 0  # the source's collate pads with zeros
    return x


def test_deepspeech2_forward_lengths_and_single_input_agree():
    torch.manual_seed(0)
    model = ds.build_deepspeech2(None, single_input=False, **TINY)
    single = ds.DeepSpeech2SingleInput(model.config, probabilities=True).eval()
    single.load_state_dict(model.state_dict())
    lengths = [57, 40, 23]
    x = zero_padded_batch(lengths)
    with torch.no_grad():
        out, out_lengths = model(x, torch.tensor(lengths, dtype=torch.int32))
        assert out.shape == (3, 29, 29) and out_lengths.tolist() == [29, 20, 12]  # floor((T - 1) / 2) + 1
        assert torch.allclose(out.sum(-1), torch.ones(3, 29))  # eval mode: softmax
        for i, length in enumerate(lengths):  # masking + packing make each utterance independent of the batch
            alone = single(x[i:i + 1, :, :, :length])
            assert torch.allclose(alone[0], out[i, :out_lengths[i]], atol=1e-6)
    logits = ds.build_deepspeech2(None, **TINY)
    logits.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.allclose(F.softmax(logits(x[:1]), -1), out[:1], atol=1e-6)


def test_deepspeech2_package_round_trip(tmp_path):
    torch.manual_seed(0)
    model = ds.build_deepspeech2(None, **TINY)
    package = ds.package_of(model)
    package["optim_dict"] = {"state": {}, "param_groups": [{"lr": 3e-4}]}  # what training packages also hold
    package["state_dict"] = {"module." + k: v for k, v in package["state_dict"].items()}
    torch.save(package, tmp_path / "librispeech_pretrained_v2.pth")
    loaded = ds.build_deepspeech2(tmp_path / "librispeech_pretrained_v2.pth")
    assert loaded.config == model.config and loaded.labels == DEEPSPEECH_LABELS
    x = torch.randn(1, 1, 161, 30)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    with pytest.raises(ValueError, match="contradict"):
        ds.build_deepspeech2(tmp_path / "librispeech_pretrained_v2.pth", hidden_size=32)
    with pytest.raises(ValueError, match=r"unknown DeepSpeech2 hyper-parameters \['hidden'\]"):
        ds.build_deepspeech2(None, hidden=32)


@pytest.mark.parametrize("change, message", [
    ({"rnn_type": "transformer"}, "rnn_type 'transformer' is not supported"),
    ({"hidden_size": None}, r"lacks \['hidden_size'\]"),
    ({"state_dict": None}, "expected a deepspeech.pytorch package"),
])
def test_deepspeech2_bad_packages_are_refused(tmp_path, change, message):
    package = ds.package_of(ds.DeepSpeech2(ds.DeepSpeechConfig(**TINY)))
    for key, value in change.items():
        if value is None:
            del package[key]
        else:
            package[key] = value
    torch.save(package, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=message):
        ds.build_deepspeech2(tmp_path / "bad.pth")


def direct_log_spectrogram(samples, periodic, n_fft=320, hop=160):
    """log1p |STFT| frame by frame: reflect-padded, Hamming window, full FFT cut to n_fft // 2 + 1 bins."""
    padded = np.pad(samples.astype(np.float64), n_fft // 2, mode="reflect")
    window = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(n_fft) / (n_fft if periodic else n_fft - 1))
    columns = []
    for start in range(0, len(padded) - n_fft + 1, hop):
        columns.append(np.abs(np.fft.fft(padded[start:start + n_fft] * window))[:n_fft // 2 + 1])
    return np.log1p(np.array(columns).T)


@pytest.mark.parametrize("periodic", [True, False])
def test_spectrogram_of_a_sine_known_answer(periodic):
    rate, seconds, frequency = 16000, 0.5, 1000.0
    samples = (0.5 * np.sin(2 * np.pi * frequency * np.arange(int(rate * seconds)) / rate)).astype(np.float32)
    audio = ds.AudioConf(periodic_window=periodic)
    raw = ds.spectrogram(samples, audio, normalize=False)
    assert raw.shape == (161, 51)  # 1 + 8000 // 160 centred frames
    assert np.allclose(raw.numpy(), direct_log_spectrogram(samples, periodic), atol=1e-5)
    assert not np.allclose(raw.numpy(), direct_log_spectrogram(samples, not periodic), atol=1e-3)
    assert set(raw[:, 2:-2].argmax(0).tolist()) == {20}  # 1000 Hz / (16000 Hz / 320) = bin 20
    normalized = ds.SpectrogramPreprocess(audio)(samples)
    assert normalized.shape == (1, 161, 51)
    assert abs(normalized.mean().item()) < 1e-6 and normalized.std().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(normalized[0], (raw - raw.mean()) / raw.std(), atol=1e-6)


def test_greedy_decode_of_a_crafted_label_sequence():
    path = "HH_E_LL_LLOO  W_ORR_LD"
    logits = torch.full((2, len(path), 29), -5.0)
    for t, char in enumerate(path):
        logits[0, t, DEEPSPEECH_LABELS.index(char)] = 5.0
        logits[1, t, DEEPSPEECH_LABELS.index(char)] = 5.0
    assert ds.greedy_decode(logits, DEEPSPEECH_LABELS) == ["HELLO WORLD"] * 2
    assert ds.greedy_decode(F.softmax(logits, -1), DEEPSPEECH_LABELS, torch.tensor([12, 5])) == ["HELLO", "HE"]


# ----------------------------------------------------------------------------- AIMET

QUANTSIM_CASES = {  # name: (builder, calibration inputs); small inputs, the real pose architecture
    "pose": (lambda: pose.build_pose(None), [torch.rand(3, 64, 48) - 0.5 for _ in range(2)]),
    "msrresnet": (lambda: build_msrresnet(None, nf=16, nb=2), [torch.rand(3, 12, 12) for _ in range(2)]),
    "deepspeech2": (lambda: ds.build_deepspeech2(None, **TINY), [torch.randn(1, 161, 60) for _ in range(2)]),
}


@pytest.mark.parametrize("name", sorted(QUANTSIM_CASES))
def test_w8a8_quantsim_wraps_every_layer(name, tmp_path):
    """The project's torch recipe quantizes each single-input model: no module AIMET does not know."""
    from zoo.recipes.torch_ptq import quantize
    from zoo.registry import Recipe

    build, calibration = QUANTSIM_CASES[name]
    torch.manual_seed(0)
    model = build()
    # min-max per-tensor keeps it cheap: tf_enhanced's per-channel search takes ~30 s on the pose net
    recipe = Recipe("w8a8", (), quant_scheme="tf", per_channel=False, calibration_images=len(calibration),
                    calibration_batch_size=1)
    quantized = quantize(model, recipe, calibration, torch.device("cpu"), tmp_path).model
    learned = {type(m).__name__ for m in model.modules() if any(True for _ in m.parameters(recurse=False))}
    wrapped = {type(m).__name__.removeprefix("Quantized") for m in quantized.modules()
               if type(m).__name__.startswith("Quantized")}
    assert learned <= wrapped
    x = calibration[0][None]
    with torch.no_grad():
        reference, simulated = model(x), quantized(x)
    reference, simulated = (o[0] if isinstance(o, tuple) else o for o in (reference, simulated))
    sqnr = 10 * torch.log10(reference.pow(2).mean() / (reference - simulated).pow(2).mean())
    assert sqnr > 20
