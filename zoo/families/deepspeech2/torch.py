"""DeepSpeech2 of SeanNaren/deepspeech.pytorch, release V2 (tag v2.0, commit 9b9c96a: model.py,
data/data_loader.py, decoder.py), checkpoint ``librispeech_pretrained_v2.pth``.

The checkpoint is a package dict: ``state_dict`` plus the hyper-parameters ``hidden_size``,
``hidden_layers``, ``rnn_type`` ('lstm' | 'gru' | 'rnn'), ``labels``, ``audio_conf`` and
``bidirectional``; ``DeepSpeech.load_model`` builds the model from them, and so does
``build_deepspeech2`` (LibriSpeech V2: LSTM, 1024 hidden, 5 layers, bidirectional). The AIMET zoo's
deepspeech2_quanteval.py evaluates this file with the later commit 78f7fb7, whose model.py keeps
V2's modules and keys.

Keys follow the source's modules: ``conv.seq_module.{0,1,3,4}`` (two Conv2d + BatchNorm2d inside
MaskConv; 2 and 5 are Hardtanh(0, 20)), ``rnns.<i>.rnn`` (layer 0 without batch norm, the others
with ``rnns.<i>.batch_norm.module``, a SequenceWise BatchNorm1d), ``lookahead.0.conv`` only for
unidirectional models, and ``fc.0.module.{0,1}`` (SequenceWise BatchNorm1d + Linear without bias).

Front end (SpectrogramParser.parse_audio): audio int16 / 32767, librosa.stft with
n_fft = win_length = int(sample_rate * window_size), hop = int(sample_rate * window_stride),
centred frames with reflect padding (librosa < 0.10: 0.9.2 in the AIMET zoo's requirements), then
log1p(|STFT|) and, for evaluation, per-utterance normalisation (mean, unbiased std). The window is
the one detail that moved: v2.0 hands librosa the callable scipy.signal.hamming, a symmetric
window, while the commit the AIMET zoo evaluates with hands it the string 'hamming', which librosa
turns into a periodic one (get_window(..., fftbins=True)). ``AudioConf.periodic_window`` defaults to
the AIMET zoo's choice, since its evaluation produced the published WER. Greedy decoding is
decoder.GreedyDecoder: per-frame argmax, repeats collapsed, blanks ('_') dropped.

For AIMET (one dummy input), ``DeepSpeech2SingleInput`` takes a spectrogram batch [B, 1, F, T]
alone and treats every utterance as T frames long: MaskConv's mask and the RNN packing are then
identities, so a batch of one utterance gives the source's result exactly; in a zero-padded batch
of different lengths the shorter utterances would run their RNNs over the padding too. It returns logits
[B, T', classes] instead of the source's eval-mode softmax (``probabilities=True`` restores it);
the argmax, and so greedy decoding, is the same.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.checkpoints import CheckpointError, load_strict
from zoo.metrics.speech import DEEPSPEECH_LABELS, greedy_ctc_decode
from zoo.registry import ModelSpec
from zoo.tasks.speech import transcript_bytes

SUPPORTED_RNNS = {"lstm": nn.LSTM, "rnn": nn.RNN, "gru": nn.GRU}
BLANK = "_"
INT16_SCALE = 32767.0  # the source's load_audio divides by 32767, not 32768
CONV_CHANNELS = 32
# (kernel, stride, padding) as (frequency, time), model.py's conv stack
CONV_LAYERS = (((41, 11), (2, 2), (20, 5)), ((21, 11), (2, 1), (10, 5)))
HARDTANH_MAX = 20.0


@dataclass(frozen=True)
class AudioConf:
    sample_rate: int = 16000
    window_size: float = 0.02
    window_stride: float = 0.01
    window: str = "hamming"
    periodic_window: bool = True  # False: v2.0's symmetric window (see the module docstring)

    @property
    def n_fft(self) -> int:
        return int(self.sample_rate * self.window_size)

    @property
    def hop_length(self) -> int:
        return int(self.sample_rate * self.window_stride)


@dataclass(frozen=True)
class DeepSpeechConfig:
    """The package's hyper-parameters; defaults are librispeech_pretrained_v2.pth's."""

    rnn_type: str = "lstm"
    hidden_size: int = 1024
    hidden_layers: int = 5
    labels: str = DEEPSPEECH_LABELS
    bidirectional: bool = True
    audio: AudioConf = field(default_factory=AudioConf)
    context: int = 20  # Lookahead context, unidirectional models only

    def __post_init__(self):
        if self.rnn_type not in SUPPORTED_RNNS:
            raise ValueError(f"rnn_type {self.rnn_type!r} is not one deepspeech.pytorch builds; "
                             f"use one of {sorted(SUPPORTED_RNNS)}")
        if BLANK not in self.labels:
            raise ValueError(f"labels {self.labels!r} lack the CTC blank {BLANK!r}")


class SequenceWise(nn.Module):
    """Applies ``module`` to a [T, N, H] sequence as to a [T * N, H] batch."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, n = x.shape[0], x.shape[1]
        return self.module(x.reshape(t * n, -1)).reshape(t, n, -1)


class MaskConv(nn.Module):
    """Runs ``seq_module`` layer by layer, zeroing every time step at or beyond each utterance's length."""

    def __init__(self, seq_module: nn.Sequential):
        super().__init__()
        self.seq_module = seq_module

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        for module in self.seq_module:
            x = module(x)
            if lengths is not None:
                beyond = torch.arange(x.shape[3], device=x.device)[None, :] >= lengths.to(x.device)[:, None]
                x = x.masked_fill(beyond[:, None, None, :], 0)
        return x


class BatchRNN(nn.Module):
    """[Sequence-wise BatchNorm1d] + RNN over [T, N, H]; a bidirectional RNN's two directions are summed."""

    def __init__(self, input_size: int, hidden_size: int, rnn_type: str, bidirectional: bool, batch_norm: bool):
        super().__init__()
        self.bidirectional = bidirectional
        self.batch_norm = SequenceWise(nn.BatchNorm1d(input_size)) if batch_norm else None
        self.rnn = SUPPORTED_RNNS[rnn_type](input_size=input_size, hidden_size=hidden_size,
                                            bidirectional=bidirectional, bias=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if self.batch_norm is not None:
            x = self.batch_norm(x)
        if lengths is None:
            x, _ = self.rnn(x)
        else:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
            x, _ = nn.utils.rnn.pad_packed_sequence(self.rnn(packed)[0], total_length=x.shape[0])
        if self.bidirectional:
            x = x.reshape(x.shape[0], x.shape[1], 2, -1).sum(2)
        return x


class Lookahead(nn.Module):
    """Row convolution over ``context`` future steps (Wang et al. 2016), for unidirectional models."""

    def __init__(self, n_features: int, context: int):
        super().__init__()
        self.context = context
        self.conv = nn.Conv1d(n_features, n_features, kernel_size=context, groups=n_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x.permute(1, 2, 0), (0, self.context - 1))
        return self.conv(x).permute(2, 0, 1).contiguous()


def rnn_input_size(audio: AudioConf) -> int:
    """Features per time step after the conv stack: 32 channels x the frequency bins it leaves."""
    size = int(math.floor(audio.sample_rate * audio.window_size / 2) + 1)
    for (kernel, _), (stride, _), (padding, _) in CONV_LAYERS:
        size = (size + 2 * padding - kernel) // stride + 1
    return size * CONV_CHANNELS


class DeepSpeech2(nn.Module):
    """The source's DeepSpeech: forward(spectrograms [B, 1, F, T], lengths [B]) -> (out [B, T', C], lengths')."""

    def __init__(self, config: DeepSpeechConfig = DeepSpeechConfig()):
        super().__init__()
        self.config = config
        self.labels = config.labels
        self.audio_conf = config.audio
        layers = []
        in_channels = 1
        for kernel, stride, padding in CONV_LAYERS:
            layers += [nn.Conv2d(in_channels, CONV_CHANNELS, kernel, stride, padding), nn.BatchNorm2d(CONV_CHANNELS),
                       nn.Hardtanh(0, HARDTANH_MAX)]
            in_channels = CONV_CHANNELS
        self.conv = MaskConv(nn.Sequential(*layers))
        sizes = [rnn_input_size(config.audio)] + [config.hidden_size] * config.hidden_layers
        self.rnns = nn.Sequential(OrderedDict(
            (str(i), BatchRNN(sizes[i], config.hidden_size, config.rnn_type, config.bidirectional, batch_norm=i > 0))
            for i in range(config.hidden_layers)))
        self.lookahead = None if config.bidirectional else nn.Sequential(
            Lookahead(config.hidden_size, config.context), nn.Hardtanh(0, HARDTANH_MAX))
        self.fc = nn.Sequential(SequenceWise(nn.Sequential(
            nn.BatchNorm1d(config.hidden_size), nn.Linear(config.hidden_size, len(config.labels), bias=False))))
        # the source's InferenceBatchSoftmax (identity in training); a plain nn.Softmax is a module AIMET knows
        self.inference_softmax = nn.Softmax(dim=-1)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Spectrogram frames -> output frames: the conv stack's time-axis arithmetic (get_seq_lens)."""
        lengths = lengths.to(torch.int64)
        for kernel, stride, padding in CONV_LAYERS:
            lengths = (lengths + 2 * padding[1] - (kernel[1] - 1) - 1) // stride[1] + 1
        return lengths.to(torch.int32)

    def logits(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """[B, 1, F, T] -> [B, T', classes] before the softmax; ``lengths`` are output frames or None (all full)."""
        x = self.conv(x, lengths)
        b, c, f, t = x.shape
        x = x.reshape(b, c * f, t).permute(2, 0, 1).contiguous()  # T x N x H
        for rnn in self.rnns:
            x = rnn(x, lengths)
        if self.lookahead is not None:
            x = self.lookahead(x)
        return self.fc(x).transpose(0, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output_lengths = self.output_lengths(lengths.cpu())
        logits = self.logits(x, output_lengths)
        return (logits if self.training else self.inference_softmax(logits)), output_lengths


class DeepSpeech2SingleInput(DeepSpeech2):
    """Same modules and keys; forward(spectrograms [B, 1, F, T]) -> logits [B, T', C], every utterance T frames long."""

    def __init__(self, config: DeepSpeechConfig = DeepSpeechConfig(), probabilities: bool = False):
        super().__init__(config)
        self.probabilities = probabilities

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.logits(x, None)
        return self.inference_softmax(logits) if self.probabilities else logits


def load_package(path: Path) -> dict:
    """The checkpoint's package dict, loaded tensors-only (``weights_only=True``)."""
    try:
        package = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated file, pickled code objects, not a torch file
        raise CheckpointError(f"{path}: cannot be loaded as a tensors-only checkpoint: {e}") from e
    if not isinstance(package, dict) or not isinstance(package.get("state_dict"), dict):
        raise CheckpointError(f"{path}: expected a deepspeech.pytorch package (a dict with 'state_dict' and "
                              f"hyper-parameters), found {type(package).__name__}; use librispeech_pretrained_v2.pth "
                              f"from the v2.0 release")
    return package


def config_from_package(package: dict, path: Path | str = "checkpoint") -> DeepSpeechConfig:
    """DeepSpeechConfig from the package's hyper-parameters, as DeepSpeech.load_model reads them."""
    missing = [key for key in ("hidden_size", "hidden_layers", "rnn_type", "labels", "audio_conf") if key not in package]
    if missing:
        raise CheckpointError(f"{path}: the package lacks {missing}; not a deepspeech.pytorch V2 checkpoint")
    rnn_type = str(package["rnn_type"]).lower()
    if rnn_type not in SUPPORTED_RNNS:
        raise CheckpointError(f"{path}: rnn_type {package['rnn_type']!r} is not supported; "
                              f"deepspeech.pytorch builds {sorted(SUPPORTED_RNNS)}")
    audio = package["audio_conf"] or {}
    known = {f.name for f in fields(AudioConf)}
    return DeepSpeechConfig(
        rnn_type=rnn_type, hidden_size=int(package["hidden_size"]), hidden_layers=int(package["hidden_layers"]),
        labels="".join(package["labels"]), bidirectional=bool(package.get("bidirectional", True)),
        audio=AudioConf(**{k: v for k, v in audio.items() if k in known}),
    )


def package_of(model: DeepSpeech2) -> dict:
    """A package as the source's DeepSpeech.serialize writes it (for round trips and small test checkpoints)."""
    config = model.config
    return {
        "version": "0.0.1", "hidden_size": config.hidden_size, "hidden_layers": config.hidden_layers,
        "rnn_type": config.rnn_type, "labels": config.labels, "bidirectional": config.bidirectional,
        "audio_conf": {f.name: getattr(config.audio, f.name) for f in fields(AudioConf)},
        "state_dict": model.state_dict(),
    }


def build_deepspeech2(checkpoint: Path | None = None, *, single_input: bool = True, probabilities: bool = False,
                      **hyper) -> DeepSpeech2:
    """DeepSpeech2 in eval mode: from the checkpoint's package (loaded strictly), or from ``hyper`` when None.

    ``hyper`` takes DeepSpeechConfig's fields (rnn_type, hidden_size, hidden_layers, labels,
    bidirectional, audio, context); with a checkpoint, any given must agree with the package.
    ``single_input`` picks DeepSpeech2SingleInput (AIMET-ready) over the source's two-input forward.
    """
    unknown = sorted(set(hyper) - {f.name for f in fields(DeepSpeechConfig)})
    if unknown:
        raise ValueError(f"unknown DeepSpeech2 hyper-parameters {unknown}; "
                         f"use {[f.name for f in fields(DeepSpeechConfig)]}")
    if checkpoint is None:
        config = DeepSpeechConfig(**hyper)
        state_dict = None
    else:
        package = load_package(checkpoint)
        config = config_from_package(package, checkpoint)
        conflicting = {k: v for k, v in hyper.items() if getattr(config, k) != v}
        if conflicting:
            raise ValueError(f"{checkpoint}: {conflicting} contradict the package's hyper-parameters "
                             f"{ {k: getattr(config, k) for k in conflicting} }; drop them")
        state_dict = {k.removeprefix("module."): v for k, v in package["state_dict"].items()}
    model = DeepSpeech2SingleInput(config, probabilities) if single_input else DeepSpeech2(config)
    if state_dict is not None:
        load_strict(model, state_dict, checkpoint)
    return model.eval()


def _window(audio: AudioConf) -> np.ndarray:
    """The n_fft-point analysis window: periodic as librosa.get_window(name, n, fftbins=True), or symmetric
    as the v2.0 source's scipy.signal.<name>(n)."""
    import scipy.signal

    # the source falls back to hamming for a name outside its table
    name = audio.window if audio.window in ("hamming", "hann", "blackman", "bartlett") else "hamming"
    return getattr(scipy.signal.windows, name)(audio.n_fft, sym=not audio.periodic_window)


def stft_magnitude(samples: np.ndarray, audio: AudioConf = AudioConf()) -> np.ndarray:
    """|librosa.stft(y, n_fft, hop, win_length=n_fft, window, center=True, pad_mode='reflect')|, float32 [F, frames]."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 1:
        raise ValueError(f"expected mono audio samples [N], got shape {samples.shape}")
    n_fft, hop = audio.n_fft, audio.hop_length
    if samples.size <= n_fft // 2:
        raise ValueError(f"{samples.size} samples are too few for reflect padding of {n_fft // 2}")
    padded = np.pad(samples, n_fft // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    return np.abs(np.fft.rfft(frames * _window(audio), axis=1)).T.astype(np.float32)


def spectrogram(samples: np.ndarray, audio: AudioConf = AudioConf(), normalize: bool = True) -> torch.Tensor:
    """The model's input for one utterance: log1p(|STFT|) [F, frames], normalised per utterance when asked."""
    spect = torch.from_numpy(np.log1p(stft_magnitude(samples, audio)))
    if normalize:
        spect = (spect - spect.mean()) / spect.std()
    return spect


class SpectrogramPreprocess:
    """Audio samples (float, int16 / 32767) -> [1, F, frames] normalised spectrogram, the dataset's preprocess."""

    def __init__(self, audio: AudioConf = AudioConf()):
        self.audio = audio

    def __call__(self, samples: np.ndarray) -> torch.Tensor:
        return spectrogram(samples, self.audio).unsqueeze(0)


def greedy_decode(out: torch.Tensor, labels: str, lengths: torch.Tensor | None = None) -> list[str]:
    """Transcripts of a batch of outputs [B, T', C] (logits or probabilities), GreedyDecoder.decode's rules,
    each cut to its output length when ``lengths`` is given."""
    scores = out.detach().float().cpu().numpy()
    sizes = [scores.shape[1]] * len(scores) if lengths is None else [int(n) for n in lengths]
    return [greedy_ctc_decode(s[:n], labels, labels.index(BLANK)) for s, n in zip(scores, sizes)]


def build_deepspeech2_for_transcripts(checkpoint: Path | None) -> DeepSpeech2:
    model = build_deepspeech2(checkpoint)
    if model.config.labels != DEEPSPEECH_LABELS:
        raise CheckpointError(f"{checkpoint}: labels {model.config.labels!r} differ from {DEEPSPEECH_LABELS!r}, "
                              f"which the transcripts are decoded with (zoo/families/deepspeech2/torch.py)")
    return model


def greedy_transcripts(outputs, _targets=None):
    """Per utterance: the greedy CTC transcript (DeepSpeech2 labels) as UTF-8 bytes."""
    return [(transcript_bytes(text),) for text in greedy_decode(torch.from_numpy(outputs[0]), DEEPSPEECH_LABELS)]


MODELS = (
    # deepspeech.pytorch V2: log1p |STFT| (20 ms hamming, 10 ms hop), per-utterance normalised; greedy CTC
    ModelSpec("deepspeech2", build_deepspeech2_for_transcripts, SpectrogramPreprocess(), None, greedy_transcripts),
)
