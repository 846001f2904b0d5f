"""A pytest plugin for benchmarks/bench.py's memory part: each test's peak resident memory, from any
checkout of the suite (it needs nothing of the suite's own code, so an older commit can be measured too).

Loaded with ``-p memprobe`` (benchmarks/ on PYTHONPATH); writes ``$ZOO_MEMPROBE_DIR/<worker>.jsonl``, one
line per test, and ``<worker>.beat`` once a second, so a worker that the OOM killer ends still leaves its
last sample."""
import json
import os
import re
import threading
import time

import pytest

OUT = os.environ.get("ZOO_MEMPROBE_DIR", "memprobe")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_state = {"test": None, "max_kb": 0}


def _kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return int(re.search(rf"{field}:\s+(\d+)", status.read()).group(1))


def _beat():
    while True:
        rss = _kib("VmRSS")
        _state["max_kb"] = max(_state["max_kb"], rss)
        with open(f"{OUT}/{WORKER}.beat.tmp", "w") as f:
            json.dump({"test": _state["test"], "rss_kb": rss, "max_kb": _state["max_kb"], "time": time.time()}, f)
        os.replace(f"{OUT}/{WORKER}.beat.tmp", f"{OUT}/{WORKER}.beat")
        time.sleep(1)


def pytest_configure(config):
    if WORKER == "main" and getattr(config.option, "numprocesses", None):
        return  # the xdist controller runs no tests
    os.makedirs(OUT, exist_ok=True)
    threading.Thread(target=_beat, daemon=True).start()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _state["test"] = item.nodeid
    start_kb = _kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    started = time.time()
    yield
    with open(f"{OUT}/{WORKER}.jsonl", "a") as f:
        f.write(json.dumps({"test": item.nodeid, "peak_kb": _kib("VmHWM"), "start_kb": start_kb,
                            "seconds": round(time.time() - started, 1)}) + "\n")
