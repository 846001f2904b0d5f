"""Post-training quantization of a PyTorch model with aimet-torch, driven by a Recipe."""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from zoo.recipes import aimet_common

TECHNIQUES = ("bn_fold", "cle", "bias_correction", "adaround", "qat")
# what aimet-torch 2.42 lacks; a recipe asking for it reports it instead of skipping silently
UNAVAILABLE = {"bias_correction": "aimet-torch 2.42 ships no bias correction module"}


@dataclass
class QuantizedModel:
    model: torch.nn.Module
    backend: str
    applied: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    config_file: str = ""
    encodings_sha256: str = ""
    training_losses: list[float] = field(default_factory=list)


def aimet_version() -> str:
    from importlib.metadata import version

    return version("aimet-torch")


def _quiet_aimet() -> None:
    aimet_common.quiet("aimet_torch")


def _quant_scheme(name: str):
    return aimet_common.quant_scheme("aimet_torch", name)


def config_file(per_channel: bool) -> str:
    return aimet_common.config_file("aimet_torch", per_channel)


def _batches(images: list[torch.Tensor], batch_size: int) -> list[torch.Tensor]:
    return [torch.stack(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]


def encodings_digest(sim) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(sim.quantizer_state_dict().items()):
        digest.update(key.encode())
        if isinstance(value, torch.Tensor):
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def fine_tune(sim_model: torch.nn.Module, recipe, training, loss, device: torch.device) -> list[float]:
    """Quantization-aware training: ``recipe.qat_steps`` Adam steps of ``loss`` on the simulated model in training
    mode, batches drawn with the recipe's seed from ``training`` (a sequence of (input, target) pairs, read lazily);
    the learning rate divided by ``qat_lr_decay`` every ``qat_lr_decay_every`` steps. Returns the loss per step.

    Dropout draws from torch's global generator, so it is seeded from the recipe inside a forked RNG state: the
    same seed gives the same encodings whatever ran before in the process."""
    parameters = [p for p in sim_model.parameters() if p.requires_grad]  # weights and, with range learning, ranges
    optimizer = torch.optim.Adam(parameters, lr=recipe.qat_lr)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, recipe.qat_lr_decay_every or recipe.qat_steps + 1,
                                               gamma=1.0 / recipe.qat_lr_decay)
    generator = torch.Generator().manual_seed(recipe.seed)
    losses = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(recipe.seed)
        sim_model.train()
        for _ in range(recipe.qat_steps):
            batch = [training[int(i)] for i in torch.randint(len(training), (recipe.qat_batch_size,), generator=generator)]
            inputs = torch.stack([x for x, _ in batch]).to(device)
            targets = torch.stack([torch.as_tensor(y) for _, y in batch]).to(device)
            optimizer.zero_grad()
            value = loss(sim_model(inputs), targets)
            value.backward()
            optimizer.step()
            schedule.step()
            losses.append(round(float(value.detach()), 5))
    sim_model.eval()
    return losses


def quantize(model: torch.nn.Module, recipe, calibration: list[torch.Tensor], device: torch.device,
             workdir: Path, training: list | None = None, loss=None) -> QuantizedModel:
    """Apply ``recipe`` to a copy of ``model``; return the quantization-simulated model.

    ``training`` ((input, target) pairs of a training split) and ``loss`` are needed by the "qat" technique."""
    from aimet_torch.adaround.adaround_weight import Adaround, AdaroundParameters
    from aimet_torch.batch_norm_fold import fold_all_batch_norms
    from aimet_torch.cross_layer_equalization import equalize_model
    from aimet_torch.quantsim import QuantizationSimModel

    unknown = set(recipe.techniques) - set(TECHNIQUES)
    if unknown:
        raise ValueError(f"recipe {recipe.name}: unknown techniques {sorted(unknown)}; known: {TECHNIQUES}")
    _quiet_aimet()
    torch.manual_seed(recipe.seed)
    model = copy.deepcopy(model).eval().to(device)
    batches = [b.to(device) for b in _batches(calibration, recipe.calibration_batch_size)]
    dummy = batches[0][:1]
    result = QuantizedModel(model, backend=f"aimet-torch {aimet_version()}", config_file=Path(
        config_file(recipe.per_channel)).name)
    scheme = _quant_scheme(recipe.quant_scheme)
    cfg = config_file(recipe.per_channel)

    if "bn_fold" in recipe.techniques:
        fold_all_batch_norms(model, input_shapes=tuple(dummy.shape), dummy_input=dummy)
        result.applied.append("bn_fold")
    if "cle" in recipe.techniques:
        equalize_model(model, dummy_input=dummy)
        result.applied.append("cle")
    for technique in recipe.techniques:
        if technique in UNAVAILABLE:
            result.unavailable[technique] = UNAVAILABLE[technique]
    encodings = None
    if "adaround" in recipe.techniques:
        loader = torch.utils.data.DataLoader(torch.cat(batches), batch_size=recipe.calibration_batch_size)
        params = AdaroundParameters(loader, num_batches=min(recipe.adaround_batches, len(loader)),
                                    default_num_iterations=recipe.adaround_iterations)
        model = Adaround.apply_adaround(model, dummy, params, path=str(workdir), filename_prefix="adaround",
                                        default_param_bw=recipe.param_bw, default_quant_scheme=scheme,
                                        default_config_file=cfg)
        encodings = Path(workdir) / "adaround.encodings"
        result.applied.append("adaround")

    sim = QuantizationSimModel(model, dummy_input=dummy, quant_scheme=scheme, default_output_bw=recipe.output_bw,
                               default_param_bw=recipe.param_bw, config_file=cfg)
    if encodings is not None:
        sim.set_and_freeze_param_encodings(str(encodings))

    def calibrate(sim_model):
        with torch.no_grad():
            for batch in batches:
                sim_model(batch)

    sim.compute_encodings(calibrate)
    if "qat" in recipe.techniques:
        if not training or loss is None:
            raise ValueError(f"recipe {recipe.name}: 'qat' needs training pairs from the dataset and the model "
                             f"spec's loss (ModelSpec.loss in zoo/families/)")
        result.training_losses = fine_tune(sim.model, recipe, training, loss, device)
        result.applied.append("qat")
    result.model = sim.model.eval()
    result.encodings_sha256 = encodings_digest(sim)
    return result
