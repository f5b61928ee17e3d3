"""The bench's CPU meter reads real /proc counters."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from bench.cpuload import CpuMeter, CpuUse


def _our_name() -> str:
    raw = Path("/proc/self/stat").read_text()
    return raw[raw.index("(") + 1 : raw.rindex(")")]


def test_meter_attributes_a_busy_loop_to_this_process() -> None:
    with CpuMeter() as meter:
        deadline = time.process_time() + 0.4
        data = b"x" * 65536
        while time.process_time() < deadline:
            data = hashlib.sha256(data).digest() * 2048
    use = meter.use
    assert use is not None
    assert use.by_program.get(_our_name(), 0.0) >= 0.3
    assert use.busy >= 0.3
    assert use.wall_cores >= use.busy


def test_summary_names_programs_and_leaves_the_rest_to_other() -> None:
    use = CpuUse(wall_cores=10.0, busy=8.0, by_program={"python": 5.0, "redis-server": 1.0})
    assert use.summary() == (
        "CPU 80% busy (8.0 of 10.0 core-s): python 5.0, redis-server 1.0, other/kernel 2.0"
    )
