"""Embedded SR and speech: the committed tiny MSRResNet loads strictly, matches its record and beats bicubic;
the speech fixture's transcripts go through the CTC decoding and WER of zoo.metrics.speech."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zoo.checkpoints import CheckpointError, sha256_of
from zoo.data.embedded.speech_fixture import SpeechFixture
from zoo.data.embedded.sr_photos import (EVAL_PHOTOS, EVAL_SIZE, SOURCES, TRAIN_PHOTOS, SrPhotos, bicubic_upscale, downscale,
                                    open_sr_photos, to_tensor)
from zoo.metrics.image_quality import psnr_y, ssim_y
from zoo.metrics.speech import (DEEPSPEECH_BLANK_INDEX, DEEPSPEECH_LABELS, corpus_wer, greedy_ctc_decode,
                                normalize_transcript)
from zoo.families.srgan.tiny import CHECKPOINT, FIXTURE_DIR, NB, SCALE, MSRResNetX4, build_sr_tiny, to_uint8_image

RECORD = json.loads((FIXTURE_DIR / "models.json").read_text())["msrresnet_tiny"]
SCORED_CROPS = (0, 4)  # astronaut and coffee: one per photo family, not the easiest


@pytest.fixture(scope="module")
def model():
    return build_sr_tiny(CHECKPOINT)


@pytest.fixture(scope="module")
def dataset():
    return SrPhotos()


def test_checkpoint_matches_its_record():
    assert CHECKPOINT.name == RECORD["file"]
    assert sha256_of(CHECKPOINT) == RECORD["sha256"]
    assert CHECKPOINT.stat().st_size == RECORD["bytes"] <= 2 * 1024 * 1024
    assert RECORD["torch"] and RECORD["steps"] > 0 and RECORD["seconds"] <= 360


def test_keys_follow_mmsr_msrresnet(model):
    blocks = [f"recon_trunk.{i}.conv{j}.{p}" for i in range(NB) for j in (1, 2) for p in ("weight", "bias")]
    convs = ["conv_first", "upconv1", "upconv2", "HRconv", "conv_last"]
    expected = {f"{c}.{p}" for c in convs for p in ("weight", "bias")} | set(blocks)
    assert set(model.state_dict()) == expected
    assert model.upconv1.weight.shape[0] == 4 * model.conv_first.weight.shape[0]


def test_strict_loading_names_the_file_and_the_extra_key(tmp_path):
    state = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    state["recon_trunk.9.conv1.weight"] = torch.zeros(1)
    bad = tmp_path / "extra_key.pth"
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match=r"extra_key\.pth.*recon_trunk\.9\.conv1\.weight"):
        build_sr_tiny(bad)


def test_zero_residual_leaves_the_bilinear_base():
    model = MSRResNetX4().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        x = torch.rand(1, 3, 10, 12)
        expected = F.interpolate(x, scale_factor=SCALE, mode="bilinear", align_corners=False)
        torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize("index", SCORED_CROPS)
def test_tiny_sr_beats_bicubic_and_reproduces_its_record(model, dataset, index):
    lr, hr = dataset[index]
    with torch.no_grad():
        sr = to_uint8_image(model(lr[None]))
    assert sr.shape == hr.shape == (EVAL_SIZE, EVAL_SIZE, 3)
    bicubic = dataset.bicubic(index)
    assert psnr_y(sr, hr, shave=SCALE) > psnr_y(bicubic, hr, shave=SCALE) + 0.5
    assert ssim_y(sr, hr, shave=SCALE) > ssim_y(bicubic, hr, shave=SCALE)
    recorded = RECORD["eval"]["per_crop_psnr_y"][dataset.sample_ids()[index]]
    assert psnr_y(sr, hr, shave=SCALE) == pytest.approx(recorded["model"], abs=0.05)
    assert psnr_y(bicubic, hr, shave=SCALE) == pytest.approx(recorded["bicubic"], abs=1e-3)


def test_recorded_means_beat_bicubic():
    assert RECORD["eval"]["model"]["psnr_y"] > RECORD["eval"]["bicubic"]["psnr_y"]
    assert RECORD["eval"]["model"]["ssim_y"] > RECORD["eval"]["bicubic"]["ssim_y"]


def test_eval_crops_are_the_ones_the_record_was_measured_on(dataset):
    assert dataset.sample_ids() == RECORD["eval"]["crops"]
    assert dataset.fingerprint() == RECORD["eval"]["fingerprint"]
    assert len(dataset) == 8 and len(set(dataset.sample_ids())) == 8


def test_eval_and_training_photos_are_disjoint_and_licensed():
    assert set(EVAL_PHOTOS).isdisjoint(TRAIN_PHOTOS)
    assert set(EVAL_PHOTOS) | set(TRAIN_PHOTOS) == set(SOURCES)
    assert all(licence for _, _, licence in SOURCES.values())


def test_lr_is_the_bicubic_quarter_and_inputs_are_unit_tensors(dataset):
    hr = dataset.hr_image(0)
    lr = downscale(hr)
    assert lr.shape == (EVAL_SIZE // 4, EVAL_SIZE // 4, 3) and bicubic_upscale(lr).shape == hr.shape
    flat = np.full((8, 8, 3), 77, dtype=np.uint8)
    np.testing.assert_array_equal(downscale(flat), np.full((2, 2, 3), 77, dtype=np.uint8))
    tensor, target = open_sr_photos(None, None)[0]
    torch.testing.assert_close(tensor, to_tensor(lr))
    assert tensor.dtype == torch.float32 and 0.0 <= tensor.min() and tensor.max() <= 1.0
    np.testing.assert_array_equal(target, hr)
    with pytest.raises(ValueError, match="multiple of the scale"):
        downscale(hr[:95])


def test_calibration_uses_training_photos_only(dataset):
    images = dataset.calibration_images(3, seed=1)
    assert [tuple(image.shape) for image in images] == [(3, EVAL_SIZE // 4, EVAL_SIZE // 4)] * 3
    eval_lr = {to_tensor(dataset.lr(i)).numpy().tobytes() for i in range(len(dataset))}
    assert not eval_lr & {image.numpy().tobytes() for image in images}


def test_to_uint8_image_clamps_and_rounds():
    output = torch.tensor([-0.2, 0.0, 0.4 / 255, 1.4 / 255, 0.5, 1.0, 1.3]).reshape(1, 7, 1).expand(3, 7, 1)
    np.testing.assert_array_equal(to_uint8_image(output[None])[:, 0, 0], [0, 0, 0, 1, 128, 255, 255])
    with pytest.raises(ValueError, match="one RGB output"):
        to_uint8_image(torch.zeros(2, 3, 4, 4))


def ctc_frames(text: str) -> np.ndarray:
    """A best path for ``text``: each label held two frames, a blank after each, so repeats survive collapse."""
    frames = []
    for char in text:
        frames += [DEEPSPEECH_LABELS.index(char)] * 2 + [DEEPSPEECH_BLANK_INDEX]
    return np.array(frames, dtype=np.int64)


def test_speech_fixture_transcripts_survive_ctc_decoding_and_score_zero_wer():
    refs = [normalize_transcript(t) for t in SpeechFixture().transcripts()]
    hyps = [greedy_ctc_decode(ctc_frames(ref), DEEPSPEECH_LABELS, DEEPSPEECH_BLANK_INDEX) for ref in refs]
    assert hyps == refs and corpus_wer(refs, hyps) == 0.0
    words = sum(len(ref.split()) for ref in refs)
    assert corpus_wer(refs, hyps[:-1] + [""]) == pytest.approx(100.0 * len(refs[-1].split()) / words)
