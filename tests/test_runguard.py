"""The run guard (zoo/runguard.py, zoo/xdist_recovery.py): budgets fire, stalls end, a dead worker is named
and its remaining tests still run. Each scenario is a small pytest run in a subprocess."""
import pytest

from zoo import memory

GIB = memory.GIB


def run_inner(pytester, *args, timeout=120):
    """pytest in a subprocess with the run guard loaded, as the suite's conftest loads it."""
    return pytester.runpytest_subprocess("-p", "zoo.runguard", "-p", "no:cacheprovider", *args, timeout=timeout)


def test_peak_is_per_test_after_a_reset():
    held = bytearray(b"x" * (300 * memory.MIB))
    assert memory.peak_bytes() >= memory.rss_bytes() >= 300 * memory.MIB
    del held
    memory.release()
    assert memory.reset_peak()
    assert memory.peak_bytes() < memory.rss_bytes() + 64 * memory.MIB


@pytest.mark.parametrize("cpus, available_gib, workers", [
    (2, 22.5, 2),   # the 2-core 24 GiB target machine
    (8, 14.0, 2),   # a 16 GiB laptop: memory, not cores, decides
    (16, 7.5, 1),   # less than two budgets: one worker, never zero
    (16, 120.0, 16),
])
def test_auto_worker_count_is_capped_by_memory(cpus, available_gib, workers):
    assert memory.auto_worker_count(cpus, int(available_gib * GIB), budget_gb=6.0, reserved_gb=2.0) == workers


def test_auto_worker_count_without_meminfo_is_the_core_count():
    assert memory.auto_worker_count(4, None) == 4


def test_a_test_over_its_budget_fails_naming_the_test_its_peak_and_the_budget(pytester):
    pytester.makepyfile(test_budget="""
        import pytest

        @pytest.mark.memory_budget(0.25)
        def test_holds_half_a_gigabyte():
            held = bytearray(b"x" * (512 * 2**20))
            assert len(held)

        @pytest.mark.memory_budget(0.25)
        def test_holds_little():
            assert len(bytearray(b"x" * 2**20))
    """)
    result = run_inner(pytester, "--memory-report=memory.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.re_match_lines([r".*test_budget.py::test_holds_half_a_gigabyte: peak resident memory [01]\.\d\d GB "
                                  r"exceeds its budget of 0\.25 GB.*"])
    result.stdout.fnmatch_lines(["*OVER BUDGET: test_budget.py::test_holds_half_a_gigabyte*"])
    report = (pytester.path / "memory.json").read_text()
    assert "test_holds_little" in report and "workers_peak_rss_mb" in report


def test_a_test_past_the_abort_limit_is_interrupted_and_the_next_one_runs(pytester):
    pytester.makepyfile(test_abort="""
        import time

        def test_grows_without_end():
            held = []
            for _ in range(200):
                held.append(bytearray(b"x" * (64 * 2**20)))
                time.sleep(0.05)

        def test_after():
            assert True
    """)
    result = run_inner(pytester, "--memory-abort=0.5", "--memory-budget=20")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*MemoryBudgetExceeded: test_abort.py::test_grows_without_end: resident memory "
                                 "passed 0.5 GB*"])


def test_every_test_gets_its_tiers_time_limit_unless_one_is_given(pytester):
    pytester.makepyfile(test_limits="""
        import pytest

        def test_default(request):
            assert request.node.get_closest_marker("timeout").args == (600,)

        @pytest.mark.timeout(7)
        def test_own(request):
            assert request.node.get_closest_marker("timeout").args == (7,)
    """)
    run_inner(pytester).assert_outcomes(passed=2)


def test_a_stalled_test_ends_by_timeout_with_a_clear_report(pytester):
    pytester.makepyfile(test_stall="""
        import time
        import pytest

        @pytest.mark.timeout(2)
        def test_stalls():
            time.sleep(60)

        def test_after():
            assert True
    """)
    result = run_inner(pytester, timeout=40)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Failed: Timeout (>2.0s) from pytest-timeout*", "*FAILED test_stall.py::test_stalls*"])


def test_a_test_stuck_outside_python_ends_its_worker_and_the_run_goes_on(pytester):
    """SIGALRM blocked: pytest-timeout's signal never reaches the test, as in a native deadlock. The heartbeat
    ends the worker past the limit plus the grace; the replacement worker, handed a single test, still runs
    it (pytest-xdist 3.8.0 waits forever there) and the run ends."""
    pytester.makeini("[pytest]\nzoo_stall_grace = 1\n")
    pytester.makepyfile(test_stuck="""
        import signal
        import time
        import pytest

        @pytest.mark.timeout(1)
        def test_stuck():
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(60)

        def test_after():
            assert True
    """)
    result = run_inner(pytester, "-n", "1", "--dist", "loadgroup", timeout=60)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*worker gw0 was ended by the run guard: test_stuck.py::test_stuck ran past its "
                                 "time limit plus 1 s*"])


def test_a_dead_worker_is_named_with_its_memory_and_its_group_goes_on_elsewhere(pytester):
    """A worker killed as the OOM killer kills (SIGKILL) in the middle of an xdist_group: the test it died on
    is reported once, not run again, and the rest of its group and of the run still run (pytest-xdist 3.8.0
    hangs after requeueing finished groups, and reruns the test that killed the worker)."""
    pytester.makepyfile(test_dies="""
        import os
        import signal
        import pytest

        @pytest.mark.xdist_group("g")
        def test_before():
            assert True

        @pytest.mark.xdist_group("g")
        def test_killed():
            os.kill(os.getpid(), signal.SIGKILL)

        @pytest.mark.xdist_group("g")
        def test_rest_of_the_group():
            assert True

        @pytest.mark.parametrize("n", range(6))
        def test_others(n):
            assert True
    """)
    result = run_inner(pytester, "-n", "2", "--dist", "loadgroup", timeout=90)
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.re_match_lines([r".*WORKER DIED: worker gw\d died while running test_dies.py::test_killed(@g)?: its last "
                                  r"memory sample, \d+ s before, was \d+\.\d\d GB resident.*"])
