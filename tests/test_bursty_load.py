"""The bursty load the suite runs beside: it really takes CPU, in bursts, and always goes away."""

import os
import subprocess
import sys
import time

import psutil
import pytest

from course_tools.bursty_load import bursty_load, cpus, run_under_load

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")


def test_loaders_switch_between_busy_and_idle_and_stop_at_the_end():
    # Seen from outside, each loader is sometimes running (or waiting for a CPU) and sometimes
    # asleep. States, not durations: the machine may be as busy as it likes.
    seen: dict[int, set[str]] = {}
    with bursty_load(loops=2, low_ms=20, high_ms=60) as procs:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(seen.get(p.pid, set()) >= {"busy", "idle"} for p in procs):
            for p in procs:
                status = psutil.Process(p.pid).status()
                kind = (
                    "busy" if status == psutil.STATUS_RUNNING else "idle" if status == psutil.STATUS_SLEEPING else None
                )
                if kind:
                    seen.setdefault(p.pid, set()).add(kind)
            time.sleep(0.005)
        cpu = [psutil.Process(p.pid).cpu_times() for p in procs]
    assert all(seen.get(p.pid) == {"busy", "idle"} for p in procs), f"each loader should be busy, then idle: {seen}"
    assert all(t.user + t.system > 0 for t in cpu), "loaders must take CPU"
    assert all(p.poll() is not None for p in procs), "loaders must be gone when the block ends"


def test_loaders_stop_when_their_time_bound_runs_out():
    with bursty_load(loops=1, seconds=0.3) as procs:
        procs[0].wait(timeout=10)
    assert procs[0].returncode == 0


def test_the_command_keeps_its_exit_code_and_can_be_pinned_to_one_cpu():
    code = "import os, sys; sys.exit(len(os.sched_getaffinity(0)) + 40)"
    assert run_under_load([sys.executable, "-c", code], loops=1) == cpus() + 40
    assert run_under_load([sys.executable, "-c", code], loops=1, pin_one_core=True) == 41


def test_a_loader_whose_parent_died_stops_by_itself(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(
        "import time\nfrom course_tools.bursty_load import bursty_load\n"
        "with bursty_load(loops=1) as procs:\n    print(procs[0].pid, flush=True)\n    time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    loader = psutil.Process(int(parent.stdout.readline()))
    parent.kill()  # no finally block runs: the loader must notice on its own
    parent.wait()
    loader.wait(timeout=5)
