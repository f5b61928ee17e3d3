"""The copier's own CPU: /usr/bin/time reports, /proc process trees, and CPU pinning."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cputree import all_cpus, descendants, pin, time_v_cpu, tree_cpu
from bench.procs import TIME, run_timed

TICK = os.sysconf("SC_CLK_TCK")
BUSY = "import time\nt = time.process_time() + 0.5\nwhile time.process_time() < t: pass\n"


def _fake_process(
    proc: Path, pid: int, name: str, ticks: tuple[int, int, int, int], children: list[int]
) -> None:
    """A /proc/PID with a stat line (utime, stime, cutime, cstime) and one thread's children."""
    (proc / str(pid) / "task" / str(pid)).mkdir(parents=True)
    before = f"S 1 {pid} {pid} 0 -1 4194304 10 0 0 0"  # fields 3-13 of stat(5)
    after = "20 0 1 0 100 1000 50"  # priority, nice, threads, ... (not read)
    stat = f"{pid} ({name}) {before} {' '.join(map(str, ticks))} {after}\n"
    (proc / str(pid) / "stat").write_text(stat)
    (proc / str(pid) / "task" / str(pid) / "children").write_text(" ".join(map(str, children)))


@pytest.fixture
def fake_proc(tmp_path: Path) -> Path:
    """A worker (10) supervising a celery process (11) with a child (12); 20 is unrelated."""
    _fake_process(tmp_path, 10, "syncer worker", (100, 20, 0, 0), [11])
    _fake_process(tmp_path, 11, "celery) (odd", (300, 80, 7, 3), [12])
    _fake_process(tmp_path, 12, "helper", (5, 5, 0, 0), [])
    _fake_process(tmp_path, 20, "docker-registry", (999, 999, 0, 0), [])
    return tmp_path


def test_descendants_walks_the_tree_parents_first(fake_proc: Path) -> None:
    assert descendants(10, fake_proc) == [10, 11, 12]
    assert descendants(12, fake_proc) == [12]


def test_tree_cpu_sums_user_system_and_reaped_children_of_the_tree_only(fake_proc: Path) -> None:
    # 120 + (380 + 10) + 10 ticks; the registry's 1998 are not in the tree.
    assert tree_cpu([10], fake_proc) == pytest.approx(520 / TICK)


def test_tree_cpu_counts_a_process_once_and_a_gone_one_as_zero(fake_proc: Path) -> None:
    assert tree_cpu([10, 11, 404], fake_proc) == pytest.approx(520 / TICK)


def test_time_v_cpu_adds_user_and_system_seconds() -> None:
    report = (
        '\tCommand being timed: "skopeo sync"\n'
        "\tUser time (seconds): 1.25\n"
        "\tSystem time (seconds): 0.50\n"
        "\tMaximum resident set size (kbytes): 51200\n"
    )
    assert time_v_cpu(report) == pytest.approx(1.75)
    assert time_v_cpu("") == 0.0


@pytest.mark.skipif(not os.path.exists(TIME), reason="needs /usr/bin/time")
def test_run_timed_counts_a_grandchild_waited_for_by_a_shell(tmp_path: Path) -> None:
    # sh waits for python: its busy half second reaches /usr/bin/time through wait4.
    argv = ["sh", "-c", f"{sys.executable} -c '{BUSY}'; true"]
    timed = run_timed(argv, log_path=tmp_path / "run.log")
    assert timed.returncode == 0
    assert 0.4 <= timed.cpu_s < 5.0


def test_tree_cpu_of_a_live_child_grows_with_its_work() -> None:
    child = subprocess.Popen([sys.executable, "-c", BUSY + "time.sleep(30)\n"])
    try:
        deadline = time.monotonic() + 20
        while tree_cpu([child.pid]) < 0.4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tree_cpu([child.pid]) >= 0.4
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_pin_restricts_every_thread_of_a_child_and_can_be_undone() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        first = min(all_cpus())
        pin([child.pid], frozenset({first}))
        assert os.sched_getaffinity(child.pid) == {first}
        pin([child.pid], all_cpus())
        assert os.sched_getaffinity(child.pid) == set(all_cpus())
    finally:
        child.kill()
        child.wait()
