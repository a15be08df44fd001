"""The two-node bench's sums: per-process CPU of a process tree, per-node figures a call."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import cast

from ivr.bench import procstat
from ivr.bench.nodes import Side
from ivr.bench.rig import ControllerProcess, Rig
from ivr.config import Settings


def test_a_tree_sample_counts_the_children_too() -> None:
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    child = subprocess.Popen([sys.executable, "-c", spin + "time.sleep(30)"])
    try:
        own = procstat.sample(os.getpid()).cpu_s
        for _ in range(100):  # until the child has spun its 0.3 s
            if procstat.sample(child.pid).cpu_s >= 0.3:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert child.pid in procstat.children(os.getpid())
        total = procstat.tree_sample(os.getpid()).cpu_s
        assert total >= own + 0.3
    finally:
        child.kill()
        child.wait()


def test_the_breakdown_is_each_process_cpu_a_call_between_the_last_two_samples() -> None:
    rigs = [cast(Rig, object()), cast(Rig, object())]
    ctls = [cast(ControllerProcess, object()), cast(ControllerProcess, object())]
    side = Side("2 nodes", Settings(state_dir=Path("/tmp/x")), rigs, ctls)
    side.snapshots = [
        {"sipp": 9.0, "kamailio": 1.0, "n0 controller": 1.0, "n0 asterisk": 2.0, "n0 calls": 10,
         "n1 controller": 1.0, "n1 asterisk": 2.0, "n1 calls": 0},
        {"sipp": 9.5, "kamailio": 2.0, "n0 controller": 1.5, "n0 asterisk": 6.0,
         "n0 calls": 510, "n1 controller": 2.0, "n1 asterisk": 6.0, "n1 calls": 500},
    ]  # fmt: skip
    text = side.breakdown(ok=1000)
    assert text.startswith("n0: 500 calls, controller 1.00, asterisk 8.00; ")
    assert "n1: 500 calls, controller 2.00, asterisk 8.00; kamailio 1.00; sipp 0.50" in text
    assert Side("1 node", side.settings, rigs[:1], ctls[:1]).breakdown(ok=5) == "-"
