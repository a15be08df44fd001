"""The in-service sweep task: runs every interval, survives a failed run, can be off."""

from __future__ import annotations

import asyncio

from retention.periodic import run_periodic
from storage.errors import StorageUnavailable


class FlakySweep:
    def __init__(self) -> None:
        self.runs = 0

    async def run(self) -> object:
        self.runs += 1
        if self.runs == 1:
            raise StorageUnavailable("database unreachable")
        return None


async def test_runs_every_interval_and_survives_a_failure() -> None:
    sweep = FlakySweep()
    task = asyncio.create_task(run_periodic(sweep, 0.01, first_delay=0))
    for _ in range(200):
        if sweep.runs >= 3:
            break
        await asyncio.sleep(0.005)
    still_running = not task.done()  # the failed first run did not end the task
    task.cancel()
    assert sweep.runs >= 3 and still_running


async def test_interval_zero_is_off() -> None:
    sweep = FlakySweep()
    await asyncio.wait_for(run_periodic(sweep, 0), 1)
    assert sweep.runs == 0
