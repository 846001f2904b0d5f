"""Options, session fixtures and the end-of-session results table of the zoo suite."""
from __future__ import annotations

from pathlib import Path

import pytest

from zoo import expected as exp
from zoo.availability import Roots, Unavailable, check_framework, locate_checkpoint, locate_dataset
from zoo.catalog import REGISTRY
from zoo.registry import MARKS
from zoo.results import read_rows, table
from zoo.session import (EXPECTED_DIR, OPTIONS, ZooSession, fp32_cache_dir, installed_aimet, new_run_id,
                         option_value, subset_size)

# zoo.runguard: memory budgets, time limits, worker count, dead-worker recovery; pytester: its self-tests
pytest_plugins = ["zoo.runguard", "pytester"]

SESSION_KEY = pytest.StashKey[ZooSession]()
_STARTED_CASES: set[str] = set()  # controller only


def pytest_addoption(parser):
    group = parser.getgroup("zoo", "AIMET model zoo regression suite")
    for name, (env, default, help_text) in OPTIONS.items():
        if isinstance(default, bool):
            group.addoption(name, action="store_true", default=False, help=f"{help_text} [env {env}]")
        else:
            group.addoption(name, default=None, help=f"{help_text} [env {env}; default {default}]")


def pytest_configure(config):
    for mark, description in MARKS.items():
        config.addinivalue_line("markers", f"{mark}: {description}")
    update = bool(option_value(config, "--update-expected"))
    try:
        subset = subset_size(config)
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None
    try:
        entries = exp.load_dir(EXPECTED_DIR, aimet_version=installed_aimet())
        exp.check_coverage(REGISTRY.ids(), entries, EXPECTED_DIR, allow_missing=update)
    except exp.ExpectedError as e:
        raise pytest.UsageError(f"expected values are invalid:\n{e}") from None
    workerinput = getattr(config, "workerinput", None)
    run_id = workerinput["zoo_run_id"] if workerinput else new_run_id()
    run_dir = Path(option_value(config, "--results-dir")).resolve() / run_id
    config.stash[SESSION_KEY] = ZooSession(config, entries, run_dir, update, subset=subset)
    if config.getoption("--memory-report") is None:
        config.option.memory_report = str(run_dir / "run-guard" / "memory.json")  # beside, not among, the rows
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistRunId(), "zoo-xdist-run-id")


class _XdistRunId:
    """Hands the controller's run id to every worker so all rows land in one directory."""

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        node.workerinput["zoo_run_id"] = node.config.stash[SESSION_KEY].run_dir.name


@pytest.fixture(scope="session")
def zoo_session(pytestconfig) -> ZooSession:
    return pytestconfig.stash[SESSION_KEY]


@pytest.fixture(scope="session")
def zoo_roots(pytestconfig) -> Roots:
    data, ckpt = option_value(pytestconfig, "--data-root"), option_value(pytestconfig, "--checkpoint-root")
    return Roots(Path(data) if data else None, Path(ckpt) if ckpt else None)


@pytest.fixture(scope="session")
def device(pytestconfig, worker_id):
    import torch

    from zoo.devices import DeviceError, cpu_threads_per_worker, resolve_device

    try:
        chosen = resolve_device(option_value(pytestconfig, "--device"), worker_id)
    except DeviceError as e:
        raise pytest.UsageError(str(e)) from None
    if chosen.type == "cpu":
        torch.set_num_threads(cpu_threads_per_worker())
    else:
        # FP32 means FP32: PyTorch lets cuDNN convolutions use TF32 by default, which moved the embedded
        # cases' FP32 metrics on an H100 (measured 2026-11-27, README "GPU runs")
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return chosen


@pytest.fixture
def case_inputs(case, zoo_roots):
    """The case's dataset directory and checkpoint file, or a skip that says how to provide them."""
    from zoo.pipeline import CaseInputs

    try:
        check_framework(case.framework)
        return CaseInputs(locate_dataset(case.dataset, zoo_roots, training=case.fine_tunes),
                          locate_checkpoint(case.checkpoint, zoo_roots))
    except Unavailable as e:
        pytest.skip(str(e))


@pytest.fixture
def expected_entry(case, zoo_session):
    return zoo_session.entries.get(case.id)  # None only under --update-expected, which writes it


@pytest.fixture(scope="session")
def measured(zoo_session, device, tmp_path_factory):
    """measure(case, inputs) memoized per process, so other tests can reuse a case's measurement."""
    from zoo.cache import Fp32Cache
    from zoo.pipeline import measure

    cache = {}
    fp32_cache = Fp32Cache(fp32_cache_dir(zoo_session.config))

    def run(case, inputs):
        if case.id not in cache:
            workdir = tmp_path_factory.mktemp(case.id)
            entry = zoo_session.entries.get(case.id)
            try:
                cache[case.id] = measure(case, inputs, device, workdir, entry.samples if entry else None,
                                         fp32_cache, zoo_session.subset_for(case))
            except Exception as e:
                zoo_session.record_error(case, e)
                raise
        return cache[case.id]

    return run


def pytest_itemcollected(item):
    """Tag the zoo case tests so their reports (sent from xdist workers too) name the case."""
    case = getattr(item, "callspec", None) and item.callspec.params.get("case")
    if case is not None and item.nodeid.split("::")[0].endswith("test_zoo.py"):
        item.user_properties.append(("zoo_case", case.id))


def pytest_runtest_logreport(report):
    """On the controller: remember which zoo cases started (not skipped), to list those left without a row."""
    case_ids = [value for key, value in report.user_properties if key == "zoo_case"]
    if case_ids and report.when == "setup" and not report.skipped:
        _STARTED_CASES.add(case_ids[0])

def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput"):
        return
    session = config.stash[SESSION_KEY]
    rows = read_rows(session.run_dir) if session.run_dir.is_dir() else []
    if not rows and not _STARTED_CASES:
        return
    written = {row["case"] for row in rows}
    missing = sorted(_STARTED_CASES - written)
    terminalreporter.write_sep("=", "zoo results")
    terminalreporter.write_line(table(rows, missing))
    terminalreporter.write_line(f"rows: {session.run_dir}")
