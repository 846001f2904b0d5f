"""Post-training quantization of a PyTorch model with aimet-torch, driven by a Recipe."""
from __future__ import annotations

import copy
import hashlib
import math
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
    quantizers: list[dict] = field(default_factory=list)  # aimet_common.quantizer_record per quantizer
    layer_sqnr_db: dict[str, float] = field(default_factory=dict)  # module -> SQNR of its output vs FP32


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


def _quantization_mixin():
    try:
        from aimet_torch.nn import BaseQuantizationMixin
    except ImportError:  # aimet-torch releases before the aimet_torch.nn alias
        from aimet_torch.v2.nn import BaseQuantizationMixin
    return BaseQuantizationMixin


def quantized_modules(sim_model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    mixin = _quantization_mixin()
    return [(name, module) for name, module in sim_model.named_modules() if isinstance(module, mixin)]


def _flat(tensor) -> list[float] | None:
    return None if tensor is None else tensor.detach().cpu().reshape(-1).tolist()


def _record(name: str, module: str, op: str, kind: str, quantizer) -> dict:
    initialized = quantizer.is_initialized()
    return aimet_common.quantizer_record(
        name, module, op, kind, quantizer.bitwidth, quantizer.symmetric,
        _flat(quantizer.get_scale()) if initialized else None, _flat(quantizer.get_offset()) if initialized else None)


def quantizer_table(sim_model: torch.nn.Module) -> list[dict]:
    """Every enabled quantizer of the simulated model with its encodings, in module order."""
    records = []
    for name, module in quantized_modules(sim_model):
        op = type(module).__name__.removeprefix("Quantized")
        for kind, quantizers in (("input", module.input_quantizers), ("output", module.output_quantizers)):
            records += [_record(f"{name}.{kind}[{i}]", name, op, kind, q) for i, q in enumerate(quantizers)
                        if q is not None]
        records += [_record(f"{name}.param.{param}", name, op, "param", q)
                    for param, q in module.param_quantizers.items() if q is not None]
    return records


def strided_values(tensor: torch.Tensor) -> torch.Tensor:
    flat = tensor.detach().reshape(-1).float()
    # clone: on CPU the strided slice is a view that would keep the whole output alive until the SQNR is taken
    step = max(1, flat.numel() // aimet_common.LAYER_SQNR_VALUES)
    return flat[::step][:aimet_common.LAYER_SQNR_VALUES].cpu().clone()


def module_outputs(model: torch.nn.Module, names: list[str], batch: torch.Tensor) -> dict[str, torch.Tensor]:
    """The (strided) output of each named module for ``batch``; modules returning non-tensors are left out."""
    outputs, modules = {}, dict(model.named_modules())

    def hook(name):
        def keep(_module, _inputs, output):
            if isinstance(output, torch.Tensor):
                outputs[name] = strided_values(output)
        return keep

    handles = [modules[name].register_forward_hook(hook(name)) for name in names if name in modules]
    try:
        with torch.no_grad():
            model(batch)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def layer_sqnr_db(fp32_model: torch.nn.Module, sim_model: torch.nn.Module, batch: torch.Tensor) -> dict[str, float]:
    """Per quantized module, SQNR (dB) of its output in the simulated model against the same module of the FP32
    model it was built from: errors accumulate along the network, so a layer whose SQNR drops below its inputs'
    is where precision is lost."""
    names = [name for name, _ in quantized_modules(sim_model)]
    reference, quantized = module_outputs(fp32_model, names, batch), module_outputs(sim_model, names, batch)
    result = {}
    for name in names:
        if name in reference and name in quantized and reference[name].shape == quantized[name].shape:
            signal = float(reference[name].double().pow(2).sum())
            noise = float((reference[name].double() - quantized[name].double()).pow(2).sum())
            result[name] = float("inf") if noise == 0 else 10.0 * math.log10(max(signal, 1e-30) / noise)
    return result


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
             workdir: Path, training: list | None = None, loss=None, fold_weights: bool = False) -> QuantizedModel:
    """Apply ``recipe`` to a copy of ``model``; return the quantization-simulated model.

    ``training`` ((input, target) pairs of a training split) and ``loss`` are needed by the "qat" technique;
    ``fold_weights`` folds the weight quantizers into the weights after calibration (ModelSpec.fold_weights)."""
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
    reference = copy.deepcopy(model)  # FP32 after BN fold and CLE, before AdaRound or QAT change the weights
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
    result.quantizers = quantizer_table(sim.model)
    if fold_weights:
        # weights quantize-dequantized once rather than at every forward, so an autoregressive decoder does not
        # re-quantize its 20M-weight projection at each step (Whisper's W8A16 eval 4.4x faster). Opt-in because
        # it is not shown to leave the other cases' values unchanged
        sim.fold_param_quantizers()
    result.layer_sqnr_db = layer_sqnr_db(reference, sim.model, batches[0][:aimet_common.LAYER_SQNR_SAMPLES])
    return result
