"""The run guard (a pytest plugin): every test within a memory budget and a time limit, and a run that
ends with a report, whatever a test does to its worker.

- Memory: each test's peak resident memory (VmHWM, reset when the test starts) is recorded as the
  test's ``peak_rss_mb`` property and checked against its budget (``@pytest.mark.memory_budget(GB)``,
  else ``--memory-budget``; published cases ``PUBLISHED_BUDGET_GB``): over budget fails the test,
  naming the test, its peak and the budget. A test whose resident memory passes its worker's share of
  the machine is interrupted (``MemoryBudgetExceeded``) before the kernel's OOM killer takes the worker.
- Time: pytest-timeout limits each test by tier (``TIMEOUTS_S``) unless ``--timeout`` is given. A test
  stuck outside Python, where the timeout signal never runs, is ended with its worker once the limit
  and a grace period have passed; its stacks are kept.
- Workers: ``-n auto`` picks one worker per core, no more than the available memory holds at one
  budget each; a dead worker's remaining tests go on elsewhere (zoo.xdist_recovery), and the summary
  says which test it died on, with its last memory sample and the likely cause.
"""
from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from zoo import memory
from zoo.fileio import atomic_write_text

BUDGET_MARK = "memory_budget"
# per-test time limits by tier, in seconds: an embedded case takes 20-200 s on 2 shared cores; a published
# one takes hours (full datasets, AdaRound at the seed's settings) on a GPU
TIMEOUTS_S = {"published": 8 * 3600, "embedded": 1500, "other": 600}
STALL_GRACE_S = 120
ABORT_SHARE = 0.9  # interrupt a test once its worker holds this share of the machine's memory per worker
HEARTBEAT_S = 1.0
RELEASE_AFTER_GROWTH = 256 * memory.MIB
STALLED_EXIT = 70


class MemoryBudgetExceeded(Exception):
    """Raised inside a test whose worker's resident memory passed its share of the machine."""


@dataclass
class TestPeak:
    __test__ = False  # not a test class, despite the name

    nodeid: str
    worker: str
    peak_rss_mb: float
    budget_mb: float
    start_rss_mb: float | None = None  # resident when the test started: what earlier tests left behind
    cuda_peak_mb: float | None = None


@dataclass
class Findings:
    """What the controller collects: per-test peaks, and the workers that died and why."""

    peaks: list[TestPeak] = field(default_factory=list)
    deaths: list[str] = field(default_factory=list)

    def worker_peaks(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for peak in self.peaks:
            found[peak.worker] = max(found.get(peak.worker, 0.0), peak.peak_rss_mb)
        return dict(sorted(found.items()))

    def largest(self, count: int = 10) -> list[TestPeak]:
        return sorted(self.peaks, key=lambda p: -p.peak_rss_mb)[:count]

    def over_budget(self) -> list[TestPeak]:
        return [p for p in self.peaks if p.peak_rss_mb > p.budget_mb]

    def as_json(self) -> dict:
        return {"workers_peak_rss_mb": self.worker_peaks(), "deaths": self.deaths,
                "tests": [asdict(p) for p in self.peaks]}

    def summary_lines(self, count: int = 10) -> list[str]:
        lines = []
        if self.peaks:
            workers = ", ".join(f"{w} {mb / 1024:.2f} GB" for w, mb in self.worker_peaks().items())
            lines.append(f"peak resident memory per worker: {workers}")
            lines.append("largest per-test peaks (GB, budget GB):")
            lines += [f"  {p.peak_rss_mb / 1024:6.2f}  {p.budget_mb / 1024:4g}  {p.nodeid}" for p in self.largest(count)]
        lines += [f"OVER BUDGET: {p.nodeid}: {p.peak_rss_mb / 1024:.2f} GB > {p.budget_mb / 1024:g} GB"
                  for p in self.over_budget()]
        lines += [f"WORKER DIED: {death}" for death in self.deaths]
        return lines


# ----------------------------------------------------------------------------- decisions per test
def budget_gb(item) -> float:
    mark = item.get_closest_marker(BUDGET_MARK)
    if mark is not None:
        return float(mark.args[0])
    if item.get_closest_marker("published") is not None:
        return memory.PUBLISHED_BUDGET_GB
    option = item.config.getoption("--memory-budget")
    if option is None and os.environ.get("ZOO_MEMORY_BUDGET_GB"):
        option = float(os.environ["ZOO_MEMORY_BUDGET_GB"])
    return memory.DEFAULT_BUDGET_GB if option is None else option


def tier_timeout(item) -> int:
    for tier in ("published", "embedded"):
        if item.get_closest_marker(tier) is not None:
            return TIMEOUTS_S[tier]
    return TIMEOUTS_S["other"]


def time_limit(item) -> float | None:
    """The limit pytest-timeout applies to this test (its mark, else --timeout / the ini value)."""
    mark = item.get_closest_marker("timeout")
    if mark is not None and (mark.args or "timeout" in mark.kwargs):
        value = mark.args[0] if mark.args else mark.kwargs["timeout"]
    else:
        value = item.config.getoption("timeout", None) or item.config.getini("timeout")
    return float(value) if value else None


def death_message(worker: str, nodeid: str, beat: dict | None, machine_bytes: int | None) -> str:
    """Why a worker most likely died, from the last heartbeat it wrote."""
    if beat is None:
        return f"worker {worker} died while running {nodeid}; it left no memory sample"
    age = time.time() - beat["time"]
    if beat.get("status") == "stalled":
        return (f"worker {worker} was ended by the run guard: {nodeid} ran past its time limit plus "
                f"{beat['grace_s']:g} s and did not respond to pytest-timeout's signal (stuck outside Python); "
                f"its stacks are in {beat['stacks']}")
    share = f" of {machine_bytes / memory.GIB:.1f} GiB on this machine" if machine_bytes else ""
    cause = ("most likely the kernel's OOM killer (`dmesg` names it)"
             if machine_bytes and beat["rss_mb"] * memory.MIB > 0.3 * machine_bytes
             else "a crash in native code, a signal, or an os._exit (its output above may say which)")
    return (f"worker {worker} died while running {nodeid}: its last memory sample, {age:.0f} s before, was "
            f"{beat['rss_mb'] / 1024:.2f} GB resident{share} ({beat['test_peak_mb'] / 1024:.2f} GB peak in "
            f"this test); {cause}. Its other tests were handed to the remaining workers")


# ----------------------------------------------------------------------------- the worker's heartbeat
class Heartbeat:
    """A daemon thread in each test-running process: writes what the process is doing and how much
    memory it holds, once a second, for the controller to read if the process dies; interrupts a test
    that passes the memory abort limit; ends the process when a test is stuck past its deadline."""

    def __init__(self, path: Path, abort_bytes: int | None):
        self.path, self.abort_bytes = path, abort_bytes
        self.worker = path.stem
        self.lock = threading.Lock()
        self.test: str | None = None
        self.deadline: float | None = None
        self.grace = 0.0
        self.aborted = False
        self.worker_peak = 0
        self.main = threading.main_thread().ident

    def start(self) -> None:
        signal.signal(signal.SIGUSR1, self._raise_in_test)
        threading.Thread(target=self._loop, name="zoo-heartbeat", daemon=True).start()

    def test_started(self, nodeid: str, deadline: float | None, grace: float) -> None:
        with self.lock:
            self.test, self.deadline, self.grace, self.aborted = nodeid, deadline, grace, False

    def test_finished(self) -> None:
        with self.lock:
            self.test, self.deadline = None, None

    def _raise_in_test(self, signum, frame):
        with self.lock:
            test = self.test
        if test is not None:
            raise MemoryBudgetExceeded(
                f"{test}: resident memory passed {self.abort_bytes / memory.GIB:.1f} GB, this worker's share "
                f"of the machine; interrupted before the OOM killer ends the worker (run guard, zoo/runguard.py)")

    def _loop(self) -> None:
        while True:
            self.beat()
            time.sleep(HEARTBEAT_S)

    def beat(self) -> None:
        rss = memory.rss_bytes() or 0
        self.worker_peak = max(self.worker_peak, rss)
        with self.lock:
            test, deadline, grace = self.test, self.deadline, self.grace
            abort = test is not None and not self.aborted and self.abort_bytes and rss > self.abort_bytes
            if abort:
                self.aborted = True
        stalled = test is not None and deadline is not None and time.time() > deadline
        self._write(test, rss, "stalled" if stalled else "running", grace)
        if abort:
            signal.pthread_kill(self.main, signal.SIGUSR1)
        if stalled:
            self._end_stalled_process()

    def _write(self, test, rss: int, status: str, grace: float) -> None:
        beat = {"worker": self.worker, "pid": os.getpid(), "test": test, "status": status, "time": time.time(),
                "rss_mb": memory.mb(rss), "test_peak_mb": memory.mb(memory.peak_bytes()),
                "worker_peak_mb": memory.mb(self.worker_peak), "grace_s": grace, "stacks": str(self.stacks_path)}
        atomic_write_text(self.path, json.dumps(beat))

    @property
    def stacks_path(self) -> Path:
        return self.path.with_suffix(".stacks.txt")

    def _end_stalled_process(self) -> None:
        with open(self.stacks_path, "w") as out:
            faulthandler.dump_traceback(out, all_threads=True)
        faulthandler.dump_traceback(sys.stderr, all_threads=True)
        os._exit(STALLED_EXIT)


def read_beat(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------------------- the plugin
class RunGuard:
    def __init__(self, config):
        self.config = config
        self.findings = Findings()
        workerinput = getattr(config, "workerinput", None)
        self.is_worker = workerinput is not None
        self.heartbeat_dir = Path(workerinput["zoo_heartbeat_dir"]) if self.is_worker else \
            Path(tempfile.mkdtemp(prefix="zoo-heartbeat-"))
        self.runs_tests_here = self.is_worker or not _distributed(config)
        self.heartbeat: Heartbeat | None = None
        if self.runs_tests_here:
            name = workerinput["workerid"] if self.is_worker else "main"
            self.heartbeat = Heartbeat(self.heartbeat_dir / f"{name}.json", _abort_bytes(config))
            self.heartbeat.start()

    # -- xdist controller
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        node.workerinput["zoo_heartbeat_dir"] = str(self.heartbeat_dir)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config, log):
        if config.getvalue("dist") == "loadgroup":
            from zoo.xdist_recovery import RecoveringLoadGroupScheduling

            return RecoveringLoadGroupScheduling(config, log)
        return None

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem, report, sched):
        worker = report.node.gateway.id
        message = death_message(worker, crashitem, read_beat(self.heartbeat_dir / f"{worker}.json"),
                                memory.total_bytes())
        self.findings.deaths.append(message)
        report.longrepr = f"{report.longrepr}\n{message}"

    # -- every process
    def pytest_collection_modifyitems(self, config, items):
        if config.getoption("timeout", None) is not None or config.getini("timeout"):
            return  # the user chose a limit
        for item in items:
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(tier_timeout(item)))

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        limit = time_limit(item)
        grace = float(item.config.getini("zoo_stall_grace"))
        memory.reset_peak()
        cuda = _initialised_cuda()
        if cuda is not None:
            cuda.reset_peak_memory_stats()
        if self.heartbeat is not None:
            self.heartbeat.test_started(item.nodeid, time.time() + limit + grace if limit else None, grace)
        start = memory.rss_bytes() or 0
        item.user_properties.append(("start_rss_mb", memory.mb(start)))
        try:
            yield
        finally:
            if self.heartbeat is not None:
                self.heartbeat.test_finished()
            if _worth_releasing(item, nextitem, start):
                memory.release()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        if call.when != "call":
            yield
            return
        peak_mb, budget = memory.mb(memory.peak_bytes()), budget_gb(item)
        item.user_properties += [("peak_rss_mb", peak_mb), ("memory_budget_mb", budget * 1024)]
        cuda = _initialised_cuda()
        if cuda is not None:
            item.user_properties.append(("peak_cuda_mb", memory.mb(cuda.max_memory_allocated())))
        report = (yield).get_result()
        if peak_mb is not None and peak_mb > budget * 1024:
            message = (f"{item.nodeid}: peak resident memory {peak_mb / 1024:.2f} GB exceeds its budget of "
                       f"{budget:g} GB (run guard, zoo/runguard.py). Make the test hold less at once, or declare "
                       f"a measured budget with @pytest.mark.{BUDGET_MARK}(GB) and say why in a comment")
            if report.passed:
                report.outcome, report.longrepr = "failed", message
            else:
                report.sections.append(("run guard", message))

    # -- the process that reports (the controller, or the only process)
    def pytest_runtest_logreport(self, report):
        if self.is_worker or report.when != "call":
            return
        properties = dict(report.user_properties)
        if properties.get("peak_rss_mb") is None:
            return
        node = getattr(report, "node", None)
        self.findings.peaks.append(TestPeak(
            report.nodeid, node.gateway.id if node is not None else "main", properties["peak_rss_mb"],
            properties["memory_budget_mb"], properties.get("start_rss_mb"), properties.get("peak_cuda_mb")))

    def pytest_sessionfinish(self, session):
        path = session.config.getoption("--memory-report")
        if not self.is_worker and path:
            atomic_write_text(Path(path), json.dumps(self.findings.as_json(), indent=1) + "\n")

    def pytest_terminal_summary(self, terminalreporter):
        if self.is_worker:
            return
        lines = self.findings.summary_lines()
        if lines:
            terminalreporter.write_sep("=", "run guard: memory and workers")
            for line in lines:
                terminalreporter.write_line(line)


def _worth_releasing(item, nextitem, start_rss: int) -> bool:
    """After a test that grew the process, or at the end of a module (its fixtures just went): a release
    takes 0.3-0.5 s on a worker holding TensorFlow and torch, too long to pay after every test."""
    grew = (memory.peak_bytes() or 0) - start_rss > RELEASE_AFTER_GROWTH
    return grew or nextitem is None or nextitem.path != item.path


def _distributed(config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and getattr(config.option, "dist", "no") != "no"


def _abort_bytes(config) -> int | None:
    if config.getoption("--memory-abort") is not None:
        return int(config.getoption("--memory-abort") * memory.GIB)
    total = memory.total_bytes()
    if total is None:
        return None
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return int(ABORT_SHARE * total / max(1, workers))


def _initialised_cuda():
    """torch.cuda where this process has initialised it already (never imports torch itself)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda


# ----------------------------------------------------------------------------- module-level hooks
def pytest_addoption(parser):
    group = parser.getgroup("zoo-guard", "run guard: memory budgets, time limits, worker count")
    group.addoption("--memory-budget", type=float, default=None,
                    help=f"peak resident memory allowed per test in GB, for tests without a {BUDGET_MARK} mark "
                         f"[env ZOO_MEMORY_BUDGET_GB; default {memory.DEFAULT_BUDGET_GB:g}; published cases "
                         f"{memory.PUBLISHED_BUDGET_GB:g}]")
    group.addoption("--memory-abort", type=float, default=None,
                    help=f"interrupt a test once its process holds this many GB [default {ABORT_SHARE:g} of the "
                         f"machine's memory divided by the number of workers]")
    group.addoption("--memory-report", default=None, help="write per-test and per-worker peak memory to this JSON file")
    parser.addini("zoo_stall_grace", "seconds past a test's time limit before its stuck worker is ended",
                  default=str(STALL_GRACE_S))


def pytest_configure(config):
    config.addinivalue_line("markers", f"{BUDGET_MARK}(gb): the peak resident memory this test may reach, in GB")
    config.pluginmanager.register(RunGuard(config), "zoo-run-guard")


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_auto_num_workers(config):
    """``-n auto``: PYTEST_XDIST_AUTO_NUM_WORKERS if set, else cores capped by memory (zoo.memory)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    budget = config.getoption("--memory-budget") or float(os.environ.get("ZOO_MEMORY_BUDGET_GB") or
                                                          memory.DEFAULT_BUDGET_GB)
    return memory.auto_worker_count(memory.usable_cpus(), memory.available_bytes(), budget)
