"""Issue 17, "what it must show": `kill -9` of the controller at random moments while callers
leave callback requests (some with voice messages) over SIPp.

200 callers, each from their own number, ask for a callback (150 from the queue, 50 from
the menu with a voice message). Meanwhile the controller is killed with SIGKILL three times
at random moments and started again a second later. Afterwards:

- every request whose caller was told "we will call you back" (the controller logs that
  only once the request is kept) exists, exactly once; no case and no number has two;
- every voice-message file in the audio store has its row, and every completed row its file;
- no Asterisk channel is left behind.

Callers cut off by a kill fail on the SIPp side: that is expected, they were never told.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.config import Settings
from tests.integration.test_call_center import _ensure_admin, agent_action
from tests.integration.test_callbacks import (
    Customer,
    _attempts,
    _closed,
    _new_request,
    customer_port,
    dialer,
)
from tests.integration.test_callbacks import _close_open_requests as close_open_requests
from tests.support import (
    SCENARIOS,
    AgentPhone,
    Controller,
    ari_get,
    run_sipp,
    sql,
    wait_for,
)

pytestmark = pytest.mark.integration
__all__ = ["customer_port", "dialer"]  # fixtures of test_callbacks, used here

MENU = "200"
QUEUE_CALLERS = 150
MESSAGE_CALLERS = 50
KILLS = 3
KILL_GAP = 6.0  # s between kills: a restart and some callers told
CAPTURE = re.compile(r"\[(\S+)\] callback capture for queue \S+ \(case ([0-9a-f-]{36})\)")
KEPT = re.compile(r"\[(\S+)\] callback request stored for queue ")
RECORDING = re.compile(r"\] recording bridge b-cb-\S+ as (rec-[0-9a-f]{32}-[0-9a-f]{32})")


def _numbers(first: int, n: int) -> list[str]:
    return [f"0405{first + i:06d}" for i in range(n)]


def _injected(tmp_path: Path, scenario: str, numbers: list[str]) -> tuple[str, list[str]]:
    """A copy of ``scenario`` whose caller number comes from a CSV (one per call)."""
    text = (SCENARIOS / scenario).read_text().replace("0401234567", "[field0]")
    path = tmp_path / f"many-{scenario}"
    path.write_text(text)
    csv = tmp_path / f"{path.stem}.csv"
    csv.write_text("SEQUENTIAL\n" + "".join(f"{n};\n" for n in numbers))
    return str(path), ["-inf", str(csv)]


def _kill_times(rng: random.Random) -> list[float]:
    """KILLS moments in 4-40 s, at least KILL_GAP apart: kills back to back (one 0.1 s after
    the other, seen) leave a restarted controller no time to tell anybody anything."""
    while True:
        kills = sorted(rng.uniform(4.0, 40.0) for _ in range(KILLS))
        if all(b - a >= KILL_GAP for a, b in itertools.pairwise(kills)):
            return kills


def _kill_and_restart(ctl: Controller) -> None:
    assert ctl.kill() is not None, "the controller was not running"
    time.sleep(1.0)
    ctl.start()


def _confirmed_cases(log: str) -> set[str]:
    """Cases whose caller the controller told that the request was kept."""
    case_of = {m.group(1): m.group(2) for m in CAPTURE.finditer(log)}
    return {case_of[m.group(1)] for m in KEPT.finditer(log) if m.group(1) in case_of}


def test_kill_9_during_200_callback_requests_loses_and_doubles_none(
    stack: Settings, controller: Controller, tmp_path: Path
) -> None:
    close_open_requests(stack)
    asyncio.run(_ensure_admin(stack))
    # A logged-in agent, paused: the queue takes callers (it refuses them with nobody
    # logged in) and nobody is dialled back meanwhile. Agent states survive the kills.
    agent_action(controller, "agent1", "login")
    agent_action(controller, "agent1", "pause")
    # Left-behind recordings recovered within seconds (from the first restart on)
    controller.env["LINJA_RECORDING_ORPHAN_AGE"] = "3"
    started = datetime.now(UTC)
    t0 = time.time()
    queue_numbers = _numbers(1, QUEUE_CALLERS)
    message_numbers = _numbers(QUEUE_CALLERS + 1, MESSAGE_CALLERS)
    everyone = [f"+358{n[1:]}" for n in queue_numbers + message_numbers]
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kills = _kill_times(rng)
    print(f"kill -9 at {', '.join(f'{k:.1f}' for k in kills)} s (seed {seed})")
    try:
        with ThreadPoolExecutor(2) as pool:
            plain, plain_inf = _injected(tmp_path, "caller-asks-for-callback.xml", queue_numbers)
            with_msg, msg_inf = _injected(
                tmp_path, "caller-asks-for-callback-with-message.xml", message_numbers
            )
            runs = [
                pool.submit(
                    run_sipp, plain, tmp_path / "queue", service=MENU, settings=stack,
                    calls=QUEUE_CALLERS, rate=4, limit=60, timeout=150,
                    extra=["-key", "queue_digit", "2", *plain_inf],
                ),
                pool.submit(
                    run_sipp, with_msg, tmp_path / "message", service=MENU, settings=stack,
                    calls=MESSAGE_CALLERS, rate=1.5, limit=30, timeout=150,
                    extra=["-key", "digit", "3", "-d", "2000", *msg_inf],
                ),
            ]  # fmt: skip
            for at in kills:
                time.sleep(max(0.0, t0 + at - time.time()))
                _kill_and_restart(controller)
            for run in runs:
                run.result(timeout=240)  # failures are callers cut off by a kill
        controller.stop()  # a clean stop: what is pending is written (or spooled)
        controller.start()  # and replayed by the next one
        wait_for("no channels left", lambda: ari_get(stack, "/channels") == [], timeout=30)

        confirmed = _confirmed_cases(controller.log())
        requests = sql(
            stack,
            "SELECT id, case_id::text AS case_id, callback_number FROM contact_requests"
            " WHERE callback_number = ANY($1::text[]) AND requested_at >= $2",
            everyone,
            started,
        )
        print(f"{len(confirmed)} callers told, {len(requests)} requests stored")
        per_case = Counter(r["case_id"] for r in requests)
        per_number = Counter(r["callback_number"] for r in requests)
        # Callers cut off by a kill, or refused while a controller restarts, were never
        # told; with 40 or more told the checks below have something to find.
        assert len(confirmed) >= 40, "too few callers got through to say anything"
        missing = confirmed - set(per_case)
        assert not missing, f"{len(missing)} confirmed requests lost: {sorted(missing)[:5]}"
        assert max(per_case.values()) == 1, per_case.most_common(3)
        assert max(per_number.values()) == 1, per_number.most_common(3)

        # Voice messages: every file has its row, every completed row its file. A kill
        # between a message's store file and its row leaves Asterisk's file, which the
        # recovery of left-behind recordings turns into a row within seconds here.
        store = stack.audio_store_dir

        def voice() -> tuple[list[Any], set[str]]:
            rows = sql(
                stack,
                "SELECT v.location, v.status FROM voice_messages v"
                " JOIN cases c ON c.id = v.case_id"
                " WHERE c.caller_number = ANY($1::text[]) AND c.started_at >= $2",
                message_numbers,
                started,
            )
            made = {
                str(p.relative_to(store))
                for p in store.glob("*/voice_messages/*/*/*.wav")
                if p.stat().st_mtime >= t0
            }
            return rows, made - {r["location"] for r in rows}

        deadline = time.monotonic() + 30
        while (rows_rowless := voice())[1] and time.monotonic() < deadline:
            time.sleep(1)
        rows, rowless = rows_rowless
        assert not rowless, f"voice files without a row: {sorted(rowless)[:5]}"
        assert all((store / r["location"]).exists() for r in rows if r["status"] == "completed")
        assert rows, "no voice message was left at all"
    finally:
        agent_action(controller, "agent1", "logout")
        close_open_requests(stack)


def test_kill_9_while_callbacks_are_dialled_never_calls_a_served_customer_again(
    stack: Settings, dialer: Controller, tmp_path: Path, customer_port: int
) -> None:
    """Six callbacks dialled by two agents while the controller is killed twice: an attempt
    cut off after the customer answered closes the request as served once another controller
    (here the restarted one) takes its lease over; nobody is dialled after answering. Half of
    the requests are for the recorded queue `desk`: their conversations are recorded (the
    customer hears the notice first), and every recording file has its row."""
    dialer.env["LINJA_CALLBACK_LEASE"] = "6"  # takeovers within the test's time
    dialer.env["LINJA_RECORDING_ORPHAN_AGE"] = "3"  # a killed recording is recovered soon
    dialer.stop()
    dialer.start()
    n = 6
    numbers = [f"+35840222000{i}" for i in range(1, n + 1)]
    phones = [
        # An agent hears the number (~9 s), the customer rings, a desk customer hears the
        # recording notice (~4 s): the agent stays long enough for a conversation after that.
        AgentPhone(stack, a, "agent-answers.xml", tmp_path, talk_ms=22000, calls=2 * n, timeout=300)
        for a in ("agent1", "agent2")
    ]
    customer = Customer(
        "customer-answers.xml", tmp_path / "customer", customer_port, calls=3 * n, timeout=300
    )
    seed = random.randrange(1 << 30)
    first_kill = random.Random(seed).uniform(8.0, 20.0)
    print(f"kill -9 at {first_kill:.1f} s, then during a recording (seed {seed})")
    try:
        for agent in ("agent1", "agent2"):
            agent_action(dialer, agent, "login")
        queues = ["desk" if i % 2 else "support" for i in range(n)]
        ids = [_new_request(stack, num, q) for num, q in zip(numbers, queues, strict=True)]
        t0 = time.time()
        time.sleep(max(0.0, t0 + first_kill - time.time()))
        _kill_and_restart(dialer)
        # The second kill cuts a desk conversation while it is being recorded.
        seen = len(RECORDING.findall(dialer.log()))
        cut = wait_for(
            "a recorded desk conversation",
            lambda: RECORDING.findall(dialer.log())[seen:],
            timeout=120,
            step=0.2,
        )[0]
        time.sleep(1.5)
        _kill_and_restart(dialer)
        closed = [_closed(stack, rid, timeout=240) for rid in ids]
    finally:
        for agent in ("agent1", "agent2"):
            agent_action(dialer, agent, "logout")
        for p in phones:
            p.close()
        customer.close()
    dialled = Counter(customer.numbers())
    results: Counter[str] = Counter()
    for rid, number, row in zip(ids, numbers, closed, strict=True):
        attempts = _attempts(stack, rid)
        results.update(str(a["result"]) for a in attempts)
        answered = [a for a in attempts if a["answered_at"] is not None]
        assert len(answered) <= 1, attempts  # reached once at most ...
        if answered:  # ... and never dialled after that
            assert all(a["started_at"] <= answered[0]["answered_at"] for a in attempts), attempts
            assert row["outcome"] == "answered", row
        # Every time the customer's phone rang is an attempt the database knows.
        assert dialled[number] <= len(attempts), (number, dialled[number], attempts)
    print("customer dialled:", dict(dialled), "attempts:", dict(results))
    # The recording cut by the kill is recovered from Asterisk's directory: file and row.
    row = wait_for(
        f"the row of the recording {cut} cut by the kill",
        lambda: sql(stack, "SELECT status, location FROM recordings WHERE name = $1", cut),
        timeout=60,
    )[0]
    assert (stack.audio_store_dir / row["location"]).exists(), row
    _every_recording_file_has_its_row(stack, ids, t0)


def _every_recording_file_has_its_row(stack: Settings, ids: list[Any], since: float) -> None:
    """The desk conversations were recorded; each file made since ``since`` has its row, each
    completed row its file, and only desk requests' cases have recordings."""
    rows = sql(
        stack,
        "SELECT r.location, r.status, q.queue FROM recordings r"
        " JOIN contact_requests q ON q.case_id = r.case_id WHERE q.id = ANY($1::uuid[])",
        ids,
    )
    store = stack.audio_store_dir
    assert {r["queue"] for r in rows} == {"desk"}, rows
    completed = [r for r in rows if r["status"] == "completed"]
    assert completed, f"no desk callback was recorded: {rows}"
    assert all((store / r["location"]).exists() for r in completed), completed
    made = {
        str(p.relative_to(store))
        for p in store.glob("*/recordings/*/*/*.wav")
        if p.stat().st_mtime >= since
    }
    located = {r["location"] for r in rows}
    assert made <= located, f"recording files without a row: {sorted(made - located)[:5]}"
