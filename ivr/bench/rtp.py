"""Did callers hear silence? An RTP listener on the SDP's port, matched to SIPp's calls.

Every caller's SDP offers one port of ours (:func:`ivr.bench.sipp.timed_scenario` with
``rtp_port``). Asterisk sends each call's audio from its own RTP port, which the 200 OK's SDP
names and SIPp logs with the answer and BYE times. A caller heard silence when, between the
answer and the BYE, more than ``gap_s`` passed without a packet from that call's port
(counting from the answer to the first packet and from the last one to the BYE).
"""

from __future__ import annotations

import bisect
import itertools
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass


class RtpListener:
    """Receives on ``port`` in a thread, keeping arrival times (monotonic) per source port."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self.arrivals: dict[int, list[float]] = defaultdict(list)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtp-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        recv, now, arrivals = self._sock.recvfrom, time.monotonic, self.arrivals
        while not self._stop.is_set():
            try:
                _, (_, src) = recv(2048)
            except TimeoutError:
                continue
            arrivals[src].append(now())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


@dataclass(frozen=True)
class Silence:
    answered: int  # calls with both an answer and a BYE in SIPp's log
    silent: int  # of them, callers with a gap over the limit


def silent_callers(
    logs: list[str], arrivals: dict[int, list[float]], sipp_started: float, *, gap_s: float = 2.0
) -> Silence:
    """``logs``: SIPp's ``answer <port> <ms>`` / ``bye <port> <ms>`` lines, ms since SIPp
    started at monotonic ``sipp_started``."""
    answered_at: dict[int, float] = {}
    calls: list[tuple[int, float, float]] = []
    for line in logs:
        parts = line.split()
        if len(parts) < 3 or parts[0] not in ("answer", "bye") or not parts[1].isdigit():
            continue
        port, at = int(parts[1]), sipp_started + int(parts[2]) / 1000
        if parts[0] == "answer":
            answered_at[port] = at
        elif port in answered_at:
            calls.append((port, answered_at.pop(port), at))
    silent = 0
    for port, start, end in calls:
        times = arrivals.get(port, [])
        lo = bisect.bisect_left(times, start - 0.5)
        hi = bisect.bisect_right(times, end)
        inside = times[lo:hi]
        marks = [start, *inside, end]
        if max(b - a for a, b in itertools.pairwise(marks)) > gap_s:
            silent += 1
    return Silence(len(calls), silent)
