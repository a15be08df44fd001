"""CPU time and resident memory of a process, read from ``/proc/<pid>``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    cpu_s: float  # user + system CPU seconds since the process started
    rss_mb: float
    sys_s: float = 0.0  # the system part of cpu_s


def sample(pid: int) -> Sample:
    """CPU (utime + stime, fields 14 and 15 of ``stat``) and VmRSS of ``pid``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return Sample(cpu, rss_kb / 1024, int(fields[12]) / _TICKS)


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Kamailio's workers are its main process's)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def tree_sample(pid: int) -> Sample:
    """CPU and RSS of ``pid`` and its children, summed (a child gone meanwhile is left out)."""
    cpu = rss = 0.0
    for p in [pid, *children(pid)]:
        try:
            s = sample(p)
        except OSError:
            continue
        cpu, rss = cpu + s.cpu_s, rss + s.rss_mb
    return Sample(cpu, rss)
