"""``make bench-soak``: ``LINJA_SOAK_CALLS`` (default 100,000) bulletin calls through the
controller at a steady ``LINJA_SOAK_RATE`` (default 150) calls/s, below the burst ceiling.

The calls go in chunks of 10,000 (``LINJA_SOAK_CHUNK``; one SIPp run each, back to back);
after each chunk: calls ok / failed so far, the controller's RSS and CPU per call, channels
up. At the end: RSS at 10k against RSS at the last chunk (the target: within 10 %), failures
and channels left.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from ivr.bench.rig import SHORT, SHORT_S, ControllerProcess, Rig
from ivr.bench.sipp import run_load, timed_scenario
from ivr.config import Settings

CHUNK = int(os.environ.get("LINJA_SOAK_CHUNK", "10000"))


def main() -> None:
    total = int(os.environ.get("LINJA_SOAK_CALLS", "100000"))
    rate = float(os.environ.get("LINJA_SOAK_RATE", "150"))
    settings = Settings()
    workdir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    rig = Rig(settings, workdir)
    ctl = ControllerProcess(settings, workdir / "controller.log")
    scenario = timed_scenario(workdir)
    ok = failed = placed = 0
    rss: dict[int, float] = {}
    started = time.monotonic()
    with rig.dialplan():
        ctl.start()
        try:
            rig.bulletins()
            print(f"{total} calls at {rate:g}/s in chunks of {CHUNK}", flush=True)
            while placed < total:
                calls = min(CHUNK, total - placed)
                cpu0 = ctl.sample().cpu_s
                result = run_load(
                    settings, scenario, workdir / f"chunk-{placed}", service=SHORT, rate=rate,
                    calls=calls, call_timeout_s=SHORT_S + 10,
                )  # fmt: skip
                sample = ctl.sample()
                placed += calls
                ok, failed = ok + result.ok, failed + result.failed
                rss[placed] = sample.rss_mb
                per_call = (sample.cpu_s - cpu0) * 1000 / max(result.ok, 1)
                print(
                    f"{placed:>7} calls: {ok} ok, {failed} failed, RSS {sample.rss_mb:.0f} MB, "
                    f"{per_call:.2f} ms CPU/call, {rig.channels()} channels up, "
                    f"{time.monotonic() - started:.0f} s",
                    flush=True,
                )
            time.sleep(10)
            left = rig.channels()
            if left:
                rig.hangup_all()
        finally:
            ctl.stop()
    first, last = rss[min(rss)], rss[max(rss)]
    print(
        f"== bench-soak: {placed} calls, {ok} ok, {failed} failed ({failed / placed:.2%}), "
        f"{left} channels left 10 s after; RSS {first:.0f} MB at {min(rss)} calls, "
        f"{last:.0f} MB at {max(rss)} ({(last - first) / first:+.1%}); logs in {workdir}"
    )


if __name__ == "__main__":
    main()
