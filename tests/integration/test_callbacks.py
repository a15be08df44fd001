"""Callbacks on the real stack: a caller in a queue asks to be called back and hangs up; the
dialer rings an agent (SIPp UAS), then the customer (SIPp UAS on the callback trunk), bridges
them; busy customers are retried after the configured delay and given up; two controllers
on one database dial each request exactly once."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import asyncpg
import pytest

from ivr.config import Settings
from ivr.stack.postgres import PgCluster
from tests.integration.test_call_center import _ensure_admin, agent_action
from tests.integration.test_recording import RMS_FLOOR, _audio_rows, _check_audio, _rms
from tests.number_traces import derived, traces
from tests.support import (
    SCENARIOS,
    AgentPhone,
    Controller,
    free_media_port,
    free_udp_port,
    owner_connection,
    read_stamp,
    run_sipp,
    sql,
    wait_for,
)

pytestmark = pytest.mark.integration

MENU = "200"
RETRY_DELAY = 3.0  # LINJA_CALLBACK_RETRY_DELAY for these controllers
WRAP_UP = 5.0  # the demo support queue's wrap-up (default)
AGENTS = ("agent1", "agent2", "agent3")


class Customer:
    """A customer's phone: a SIPp UAS on the port the callback trunk points at."""

    def __init__(
        self, scenario: str, workdir: Path, port: int, *, calls: int, timeout: int = 90
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "sipp",
                "-sf",
                str(SCENARIOS / scenario),
                "-i",
                "127.0.0.1",
                "-p",
                str(port),
                "-mp",
                str(free_media_port()),
                "-m",
                str(calls),
                "-timeout",
                f"{timeout}s",
                "-timeout_error",
                "-nostdin",
                "-trace_err",
            ],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",  # SIPp's screen may carry a packet's raw bytes
        )

    def wait(self, timeout: float = 90) -> tuple[int, str]:
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def answered(self, call: int) -> bool:
        return (self.workdir / f"answered_{call}.ts").exists()

    def numbers(self) -> list[str]:
        return [p.read_text().strip() for p in sorted(self.workdir.glob("number_*.txt"))]


def _close_open_requests(settings: Settings) -> None:
    """Earlier runs may have left requests; nothing else may be dialled in these tests."""
    sql(
        settings,
        "UPDATE contact_requests SET status = 'cancelled', outcome = 'cancelled',"
        " closed_at = now(), dialing_by = NULL, dialing_since = NULL"
        " WHERE status IN ('open', 'claimed') AND channel = 'phone'"
        " AND claimed_by IS NULL",
    )


def _new_request(settings: Settings, number: str, queue: str = "support") -> uuid.UUID:
    """A phone callback request for a demo queue, as the recorder writes one."""
    request_id, case_id = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)

    async def insert() -> None:
        conn = await owner_connection(settings)
        try:
            tenant = await conn.fetchval("SELECT id FROM tenants WHERE slug = 'demo'")
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO cases (id, tenant_id, channel, caller_number, started_at,"
                    " ended_at, outcome, total_time) VALUES ($1, $2, 'phone', $3, $4, $4,"
                    " 'callback_requested', interval '0')",
                    case_id,
                    tenant,
                    number,
                    now,
                )
                await conn.execute(
                    "INSERT INTO contact_requests (id, tenant_id, case_id, channel, queue,"
                    " requested_at, callback_number, status, attempts, queue_entered_at)"
                    " VALUES ($1, $2, $3, 'phone', $6, $4, $5, 'open', 0, $4)",
                    request_id,
                    tenant,
                    case_id,
                    now,
                    number,
                    queue,
                )
        finally:
            await conn.close()

    asyncio.run(insert())
    return request_id


def _request(settings: Settings, request_id: uuid.UUID) -> asyncpg.Record:
    (row,) = sql(
        settings,
        "SELECT r.*, u.login AS last_agent FROM contact_requests r"
        " LEFT JOIN users u ON u.id = r.last_agent_id WHERE r.id = $1",
        request_id,
    )
    return row


def _attempts(settings: Settings, request_id: uuid.UUID) -> list[asyncpg.Record]:
    return sql(
        settings,
        "SELECT * FROM callback_attempts WHERE request_id = $1 ORDER BY attempt_no",
        request_id,
    )


def _agent_answered(settings: Settings, request_id: uuid.UUID, agent: str) -> bool:
    """``agent`` answered the request's agent leg: the dialler has started its attempt (it
    does once the agent answers, before the customer is rung) and not ended it."""
    return any(
        a["agent_login"] == agent and a["ended_at"] is None for a in _attempts(settings, request_id)
    )


def _closed(settings: Settings, request_id: uuid.UUID, timeout: float = 60) -> asyncpg.Record:
    return wait_for(
        f"request {request_id} to be closed",
        lambda: (lambda r: r if r["closed_at"] is not None else None)(
            _request(settings, request_id)
        ),
        timeout=timeout,
        step=0.3,
    )


def _env(customer_port: int) -> dict[str, str]:
    return {
        "LINJA_CALLBACK_TRUNK": f"127.0.0.1:{customer_port}",
        "LINJA_CALLBACK_POLL_INTERVAL": "0.5",
        "LINJA_CALLBACK_RETRY_DELAY": str(RETRY_DELAY),
    }


@pytest.fixture
def customer_port() -> int:
    return free_udp_port()


@pytest.fixture
def dialer(stack: Settings, tmp_path: Path, customer_port: int) -> Iterator[Controller]:
    """A controller whose callback trunk points at ``customer_port``; no agent logged in."""
    asyncio.run(_ensure_admin(stack))
    _close_open_requests(stack)
    ctl = Controller(stack, tmp_path / "controller.log", env=_env(customer_port))
    ctl.start()
    try:
        for agent in AGENTS:
            agent_action(ctl, agent, "logout")
        yield ctl
    finally:
        for agent in AGENTS:
            agent_action(ctl, agent, "logout")
        ctl.stop()
        _close_open_requests(stack)


def _forget_renders_of(settings: Settings, number: str) -> Path:
    """The sounds dir, without renders of the number that a version before issue 17 (which
    cached "we will call you back on 0 4 0, ...") may have left in a reused Asterisk root."""
    sounds = settings.in_root(settings.sounds_inner)
    stale = derived(number)
    for path in sounds.glob("*.wav"):
        if path.stem in stale:
            path.unlink()
    return sounds


def test_caller_in_the_queue_presses_1_and_is_called_back(
    stack: Settings, dialer: Controller, tmp_path: Path, customer_port: int
) -> None:
    # The agent hears who is called back (~9.5 s of speech), then talks with the customer.
    sounds = _forget_renders_of(stack, "+358401234567")
    phone = AgentPhone(stack, "agent1", "agent-answers.xml", tmp_path, talk_ms=16000)
    customer = Customer("customer-answers.xml", tmp_path / "customer", customer_port, calls=1)
    try:
        agent_action(dialer, "agent1", "login")
        agent_action(dialer, "agent1", "pause")  # the caller waits in the queue
        caller = run_sipp(
            "caller-asks-for-callback.xml",
            tmp_path / "caller",
            service=MENU,
            settings=stack,
            timeout=60,
            extra=["-key", "queue_digit", "2"],
        )
        assert caller.returncode == 0, caller.output + caller.errors
        rows = wait_for(
            "the callback request row",
            lambda: sql(
                stack,
                "SELECT r.*, c.outcome AS case_outcome, c.caller_number FROM contact_requests r"
                " JOIN cases c ON c.id = r.case_id WHERE r.status = 'open'"
                " AND c.service_number = $1",
                MENU,
            ),
            timeout=10,
        )
        (req,) = rows
        assert req["callback_number"] == "+358401234567"
        assert req["queue"] == "support" and req["channel"] == "phone"
        assert req["case_outcome"] == "callback_requested"
        # Its place is when the caller entered the queue, not when they asked.
        queued = read_stamp(tmp_path / "caller", "queued")
        asked = read_stamp(tmp_path / "caller", "callback")
        place = req["queue_entered_at"].timestamp()
        assert abs(place - queued) <= 1.0, (place, queued)
        assert place < asked - 2.0
        assert req["requested_at"].timestamp() >= asked
        assert _attempts(stack, req["id"]) == []  # nobody dialled while the agent was paused
        # The caller heard their number read back, but from digit sounds: nothing on disk
        # holds it, or is named after a text that says it.
        assert traces(sounds, "+358401234567") == []

        agent_action(dialer, "agent1", "unpause")
        code, out = phone.wait(timeout=60)
        assert code == 0, out
        ccode, cout = customer.wait(timeout=30)
        assert ccode == 0, cout
    finally:
        phone.close()
        customer.close()

    # Agent first, then the customer; the number is in the Request-URI.
    assert customer.numbers() == ["+358401234567"]
    agent_answered = read_stamp(phone.workdir, "answered")
    customer_answered = read_stamp(customer.workdir, "answered")
    assert agent_answered < customer_answered
    done = _closed(stack, req["id"])
    assert done["status"] == "done" and done["outcome"] == "answered"
    assert done["attempts"] == 1 and done["last_agent"] == "agent1"
    assert done["dialing_by"] is None
    (attempt,) = _attempts(stack, req["id"])
    assert attempt["result"] == "answered" and attempt["agent_login"] == "agent1"
    assert attempt["answered_at"] is not None
    assert abs(attempt["answered_at"].timestamp() - customer_answered) <= 1.0
    (case,) = sql(
        stack,
        "SELECT c.*, u.login AS agent FROM cases c LEFT JOIN users u ON u.id = c.agent_id"
        " WHERE c.id = $1",
        req["case_id"],
    )
    assert case["outcome"] == "answered" and case["agent"] == "agent1"
    talked = read_stamp(customer.workdir, "hungup") - customer_answered
    assert talked > 2.0  # bridged until the agent hung up
    assert abs(case["service_time"].total_seconds() - talked) <= 1.0
    wait_for("no channels left", lambda: _no_channels(stack), timeout=10)
    log = dialer.log()
    assert "Traceback" not in log
    assert "358401234567" not in log  # the number is not logged
    assert traces(sounds, "+358401234567") == []  # nor is the agent's "calling 0 4 0 ..."


def _no_channels(settings: Settings) -> bool:
    from tests.support import ari_get

    return bool(ari_get(settings, "/channels") == [])


def test_busy_customer_is_retried_after_the_delay_then_given_up(
    stack: Settings, dialer: Controller, tmp_path: Path, customer_port: int
) -> None:
    attempts = 3  # demo support: max_attempts = 3
    phone = AgentPhone(stack, "agent1", "agent-is-hung-up.xml", tmp_path, calls=attempts)
    customer = Customer("customer-is-busy.xml", tmp_path / "customer", customer_port, calls=3)
    try:
        agent_action(dialer, "agent1", "login")
        request_id = _new_request(stack, "+358409876543")
        done = _closed(stack, request_id, timeout=90)
        code, out = phone.wait(timeout=30)
        assert code == 0, out
        ccode, cout = customer.wait(timeout=30)
        assert ccode == 0, cout
    finally:
        phone.close()
        customer.close()
    assert customer.numbers() == ["+358409876543"] * attempts
    assert done["status"] == "done" and done["outcome"] == "gave_up"
    assert done["attempts"] == attempts and done["last_agent"] == "agent1"
    rows = _attempts(stack, request_id)
    assert [r["result"] for r in rows] == ["busy"] * attempts
    assert all(r["agent_login"] == "agent1" for r in rows)
    # Each retry waited the configured delay after the previous attempt ended; it may wait
    # longer for the agent's wrap-up (demo support: 5 s) and ring, never less.
    gaps = [(b["started_at"] - a["ended_at"]).total_seconds() for a, b in pairwise(rows)]
    assert all(RETRY_DELAY <= g <= max(RETRY_DELAY, WRAP_UP) + 2.5 for g in gaps), gaps
    print("retry gaps (s):", gaps)
    busy = [float(p.read_text()) for p in sorted(customer.workdir.glob("busy_*.ts"))]
    assert len(busy) == attempts
    assert all(b - a >= RETRY_DELAY for a, b in pairwise(busy)), busy
    assert "Traceback" not in dialer.log()


def test_two_controllers_dial_each_request_exactly_once(
    stack: Settings, dialer: Controller, tmp_path: Path, customer_port: int
) -> None:
    # A second controller: own state dir, HTTP port and Stasis app; same database.
    state_b = tmp_path / "state-b"
    state_b.mkdir()
    for name in ("secrets.json", "agent-sip.json", "flows.json"):
        if (stack.state_dir / name).exists():
            shutil.copy(stack.state_dir / name, state_b / name)
    http_b = free_udp_port()
    settings_b = stack.model_copy(update={"http_port": http_b, "state_dir": state_b})
    env_b = {
        **_env(customer_port),
        "LINJA_STATE_DIR": str(state_b),
        "LINJA_HTTP_PORT": str(http_b),
        "LINJA_ARI_APP": "linja-b",
    }
    other = Controller(settings_b, tmp_path / "controller-b.log", env=env_b)
    other.start()
    n = 4
    phone_a = AgentPhone(stack, "agent1", "agent-answers.xml", tmp_path, talk_ms=14000, calls=n)
    phone_b = AgentPhone(stack, "agent2", "agent-answers.xml", tmp_path, talk_ms=14000, calls=n)
    customer = Customer("customer-answers.xml", tmp_path / "customer", customer_port, calls=n)
    numbers = [f"+35840111000{i}" for i in range(1, n + 1)]
    try:
        agent_action(dialer, "agent1", "login")
        agent_action(other, "agent2", "login")
        ids = [_new_request(stack, number) for number in numbers]
        ccode, cout = customer.wait(timeout=120)
        assert ccode == 0, cout
        closed = [_closed(stack, rid, timeout=30) for rid in ids]
    finally:
        for agent in ("agent1", "agent2"):
            agent_action(other, agent, "logout")
        other.stop()
        for p in (phone_a, phone_b):
            p.close()
        customer.close()
    assert sorted(customer.numbers()) == sorted(numbers)  # each number dialled once
    controllers = set()
    for rid, row in zip(ids, closed, strict=True):
        assert row["outcome"] == "answered" and row["attempts"] == 1
        (attempt,) = _attempts(stack, rid)  # exactly one attempt per request
        assert attempt["result"] == "answered"
        controllers.add(attempt["controller"])
    print("controllers that dialled:", json.dumps(sorted(controllers)))
    assert len(controllers) == 2, controllers  # both took part
    assert "Traceback" not in dialer.log() + other.log()


def test_live_callers_and_a_callback_are_served_in_arrival_order(
    stack: Settings, dialer: Controller, tmp_path: Path, customer_port: int
) -> None:
    """A (live) arrives, then B (asks for a callback, hangs up), then C (live); one agent.
    The agent serves A, then calls B back, then C."""
    started = datetime.now(UTC)
    # 14 s: on B's callback the agent first hears whom to call (~9.5 s, digit by digit).
    # The phone lives for the whole test: on a loaded CI machine (4 workers, 2 cores) B's
    # capture alone can take a minute before the three calls of 14 s + wrap-ups begin.
    phone = AgentPhone(
        stack, "agent1", "agent-answers.xml", tmp_path, talk_ms=14000, calls=3, timeout=240
    )
    customer = Customer("customer-answers.xml", tmp_path / "customer", customer_port, calls=1)
    live = ["-key", "digit", "2"]
    try:
        agent_action(dialer, "agent1", "login")
        agent_action(dialer, "agent1", "pause")
        with ThreadPoolExecutor(3) as pool:
            a = pool.submit(
                run_sipp, "caller-picks-by-info.xml", tmp_path / "a", service=MENU,
                settings=stack, timeout=240, extra=live,
            )  # fmt: skip
            time.sleep(1.5)
            b = pool.submit(
                run_sipp, "caller-asks-for-callback.xml", tmp_path / "b", service=MENU,
                settings=stack, timeout=60, extra=["-key", "queue_digit", "2"],
            )  # fmt: skip
            time.sleep(2.5)
            c = pool.submit(
                run_sipp, "caller-picks-by-info.xml", tmp_path / "c", service=MENU,
                settings=stack, timeout=240, extra=live,
            )  # fmt: skip
            assert b.result().returncode == 0, b.result().output
            wait_for(
                "B's callback request",
                lambda: sql(stack, "SELECT id FROM contact_requests WHERE status = 'open'"),
                timeout=10,
            )
            agent_action(dialer, "agent1", "unpause")
            results = [a.result(), c.result()]
        code, out = phone.wait(timeout=60)
        ccode, cout = customer.wait(timeout=30)
    finally:
        phone.close()
        customer.close()

    def story() -> str:  # what the controller did with the calls, for a failure message
        lines = dialer.log().splitlines()
        wanted = ("ivr.callcenter", "ivr.flows.queue", "ivr.callbacks", "ivr.telephony", "ERROR")
        return "\n--- controller:\n" + "\n".join(
            line[:300] for line in lines if any(w in line for w in wanted)
        )

    for r in results:
        assert r.returncode == 0, r.output + r.errors + "\n--- agent phone:\n" + out + story()
    assert code == 0, out + story()
    assert ccode == 0, cout + story()
    cases = sql(
        stack,
        "SELECT id, started_at, service_started_at, outcome FROM cases"
        " WHERE service_number = $1 AND started_at >= $2 ORDER BY started_at",
        MENU,
        started,
    )
    assert len(cases) == 3, cases
    served = [c["service_started_at"] for c in cases]
    assert all(s is not None for s in served), cases
    assert served == sorted(served), cases  # A, then B's callback, then C
    assert [c["outcome"] for c in cases] == ["answered"] * 3


def test_a_caller_leaves_a_voice_message_with_the_callback_request(
    stack: Settings, dialer: Controller, tmp_path: Path
) -> None:
    # No agent is logged in: the request waits, the message is there for whoever calls back.
    since = datetime.now(UTC)
    caller = run_sipp(
        "caller-asks-for-callback-with-message.xml",
        tmp_path,
        service=MENU,
        settings=stack,
        timeout=60,
        extra=["-key", "digit", "3", "-d", "2000"],  # 3 = callback:support
    )
    assert caller.returncode == 0, caller.output + caller.errors
    (req,) = wait_for(
        "the callback request row",
        lambda: sql(
            stack,
            "SELECT r.*, c.outcome AS case_outcome FROM contact_requests r"
            " JOIN cases c ON c.id = r.case_id WHERE r.status = 'open' AND r.requested_at >= $1"
            " AND c.ended_at IS NOT NULL",
            since,
        ),
        timeout=10,
    )
    assert req["callback_number"] == "+358401234567" and req["queue"] == "support"
    assert req["case_outcome"] == "callback_requested"
    (msg,) = wait_for(
        "the voice message row",
        lambda: _audio_rows(stack, "voice_messages", req["case_id"]) or None,
        timeout=10,
    )
    assert (msg["status"], msg["box"], msg["failure_reason"]) == ("completed", "support", None)
    spoke = read_stamp(tmp_path, "hash") - read_stamp(tmp_path, "message")
    assert 1.0 <= msg["duration"].total_seconds() <= spoke, (msg["duration"], spoke)
    assert _rms(_check_audio(stack, msg)) > RMS_FLOOR
    assert "Traceback" not in dialer.log()


def test_a_callback_for_a_recorded_queue_is_recorded_after_the_customer_hears_the_notice(
    stack: Settings, dialer: Controller, tmp_path: Path, customer_port: int
) -> None:
    # The demo desk queue records its conversations: its callbacks are recorded too.
    phone = AgentPhone(stack, "agent1", "agent-answers.xml", tmp_path, talk_ms=20000)
    customer = Customer("customer-answers.xml", tmp_path / "customer", customer_port, calls=1)
    try:
        agent_action(dialer, "agent1", "login")
        request_id = _new_request(stack, "+358401112233", queue="desk")
        done = _closed(stack, request_id, timeout=60)
        code, out = phone.wait(timeout=60)
        assert code == 0, out
        ccode, cout = customer.wait(timeout=30)
        assert ccode == 0, cout
    finally:
        phone.close()
        customer.close()
    assert done["status"] == "done" and done["outcome"] == "answered"
    (rec,) = wait_for(
        "the recording row",
        lambda: _audio_rows(stack, "recordings", done["case_id"]) or None,
        timeout=15,
    )
    assert rec["status"] == "completed" and rec["failure_reason"] is None
    assert rec["notice_played_at"] is not None
    assert rec["started_at"] >= rec["notice_played_at"]  # never before the notice ended
    (attempt,) = _attempts(stack, request_id)
    assert attempt["answered_at"] <= rec["notice_played_at"]
    assert rec["duration"].total_seconds() > 1.0
    _check_audio(stack, rec)
    assert "Traceback" not in dialer.log()


def test_a_controller_killed_mid_dial_leaves_the_request_to_the_next_one(
    stack: Settings, tmp_path: Path, customer_port: int
) -> None:
    """Nothing lost: controller A is SIGKILLed while its agent hears whom to call; once A's
    lease runs out, controller B dials the request again and the customer is reached, once."""
    asyncio.run(_ensure_admin(stack))
    _close_open_requests(stack)
    env = {**_env(customer_port), "LINJA_CALLBACK_LEASE": "5"}
    a = Controller(stack, tmp_path / "controller-a.log", env=env)
    b = Controller(stack, tmp_path / "controller-b.log", env=env)
    a.start()
    # Call 1 of the agent's phone is cut when B hangs up A's orphaned leg, so the phone's own
    # exit code is not checked; the database and the customer's phone tell what happened.
    phone = AgentPhone(stack, "agent1", "agent-answers.xml", tmp_path, talk_ms=20000, calls=2)
    customer = Customer("customer-answers.xml", tmp_path / "customer", customer_port, calls=1)
    number = "+358402223344"
    try:
        for agent in AGENTS:
            agent_action(a, agent, "logout")
        agent_action(a, "agent1", "login")
        request_id = _new_request(stack, number)
        wait_for(
            "A's agent to answer",
            lambda: _agent_answered(stack, request_id, "agent1"),
            timeout=30,
            step=0.2,
        )
        assert a.proc is not None
        a.proc.kill()  # SIGKILL: no clean shutdown, the lease and the attempt stay behind
        a.proc.wait()
        killed_at = datetime.now(UTC)
        b.start()  # agent1 was busy on A: restored as available
        done = _closed(stack, request_id, timeout=90)
        ccode, cout = customer.wait(timeout=60)
        assert ccode == 0, cout
    finally:
        phone.close()
        customer.close()
        a.stop()
        if b.proc is not None:
            for agent in AGENTS:
                agent_action(b, agent, "logout")
            b.stop()
        _close_open_requests(stack)
    assert done["status"] == "done" and done["outcome"] == "answered"
    assert customer.numbers() == [number]  # dialled exactly once, by B
    first, second = _attempts(stack, request_id)
    assert (first["result"], second["result"]) == ("interrupted", "answered")
    assert first["controller"] != second["controller"]
    assert second["started_at"] >= killed_at
    assert "Traceback" not in b.log()


def _bridged_customer(settings: Settings) -> bool:
    """A bridge holds the agent's leg and a customer leg (``cb-...-c-...``)."""
    from tests.support import ari_get

    bridges = ari_get(settings, "/bridges")
    return any(
        len(b["channels"]) == 2 and any("-c-" in ch for ch in b["channels"]) for b in bridges
    )


def test_a_postgres_outage_mid_dial_neither_holds_the_call_nor_loses_a_request(
    stack: Settings, dialer: Controller, tmp_path: Path, customer_port: int
) -> None:
    """Nothing lost: Postgres stops once the agent has answered the first of two requests
    and stays down until the customer has answered and been bridged with the agent; then it
    comes back. The conversation is not held up by the database, the first request's attempt
    is stored once Postgres is back, and the second request, pending through the outage, is
    dialled after it. Each customer is called exactly once."""
    cluster = PgCluster(stack)
    phone = AgentPhone(stack, "agent1", "agent-answers.xml", tmp_path, talk_ms=16000, calls=2)
    customer = Customer("customer-answers.xml", tmp_path / "customer", customer_port, calls=2)
    numbers = ["+358405550001", "+358405550002"]
    try:
        agent_action(dialer, "agent1", "login")
        first = _new_request(stack, numbers[0])
        time.sleep(0.2)  # the second one is later in the queue
        second = _new_request(stack, numbers[1])
        wait_for(
            "the agent to answer the first callback",
            lambda: _agent_answered(stack, first, "agent1"),
            timeout=30,
            step=0.2,
        )
        try:
            cluster.stop()
            stopped = time.monotonic()
            # The agent hears the number (~9.5 s), then the customer rings and answers.
            wait_for("the customer to answer", lambda: customer.answered(1), timeout=30)
            answered = time.time()
            wait_for("agent and customer bridged", lambda: _bridged_customer(stack), timeout=5)
            bridged = time.time()
            assert not cluster.status().running  # all of it happened with the database down
        finally:
            cluster.start()
        down = time.monotonic() - stopped
        print(f"Postgres down {down:.1f} s; bridged {bridged - answered:.2f} s after the answer")
        ccode, cout = customer.wait(timeout=120)
        assert ccode == 0, cout
        done = [_closed(stack, rid, timeout=60) for rid in (first, second)]
        code, out = phone.wait(timeout=30)
        assert code == 0, out
    finally:
        if not cluster.status().running:
            cluster.start()
        phone.close()
        customer.close()
    assert bridged - answered < 2.0  # the outage did not hold the customer in silence
    assert customer.numbers() == numbers  # in their order, each once
    for rid, row in zip((first, second), done, strict=True):
        assert row["status"] == "done" and row["outcome"] == "answered", dict(row)
        assert row["attempts"] == 1 and row["last_agent"] == "agent1"
        assert row["dialing_by"] is None
        (attempt,) = _attempts(stack, rid)
        assert attempt["result"] == "answered"
        assert attempt["answered_at"] is not None and attempt["ended_at"] is not None
    first_answer = read_stamp(customer.workdir, "answered")
    (attempt,) = _attempts(stack, first)
    assert abs(attempt["answered_at"].timestamp() - first_answer) <= 1.0  # the real time
    log = dialer.log()
    assert f"[cb {first}] answered failed" in log  # the write did meet the outage
    assert "could not be stored" not in log
    assert "Traceback" not in log


def test_callbacks_to_international_premium_rate_numbers_are_never_dialled(
    stack: Settings, dialer: Controller, tmp_path: Path, customer_port: int
) -> None:
    """Issue 17 item 8: requests for a premium-rate (+44 909...) and a service number
    (020...), as stored before the fix, are closed by the dialer without ringing anyone."""
    phone = AgentPhone(stack, "agent1", "agent-answers.xml", tmp_path, calls=1)
    try:
        agent_action(dialer, "agent1", "login")
        ids = [_new_request(stack, n) for n in ("+449098790000", "+358201234567")]
        done = [_closed(stack, rid, timeout=30) for rid in ids]
    finally:
        phone.close()
    assert [(d["status"], d["outcome"], d["attempts"]) for d in done] == [
        ("cancelled", "cancelled", 0)
    ] * 2
    assert all(_attempts(stack, rid) == [] for rid in ids)
    log = dialer.log()
    assert log.count("number not callable") == 2 and "Traceback" not in log


def test_i17_5_an_outcome_outlives_a_long_postgres_outage_and_nobody_is_called_twice(
    stack: Settings, tmp_path: Path, customer_port: int
) -> None:
    """Issue 17 item 5 on the real stack: Postgres stops while agent and customer talk and
    stays down 40 s, longer than the dialer's old write retries (about 31 s), and past the
    (short) lease. The call ends during the outage; once Postgres is back the request is
    closed as answered, with one attempt, and the customer is not called again."""
    asyncio.run(_ensure_admin(stack))
    _close_open_requests(stack)
    env = _env(customer_port) | {"LINJA_CALLBACK_LEASE": "6"}
    ctl = Controller(stack, tmp_path / "controller.log", env=env)
    cluster = PgCluster(stack)
    phone = AgentPhone(stack, "agent1", "agent-answers.xml", tmp_path, talk_ms=16000)
    customer = Customer("customer-answers.xml", tmp_path / "customer", customer_port, calls=1)
    number = "+358405550011"
    ctl.start()
    try:
        agent_action(ctl, "agent1", "login")
        rid = _new_request(stack, number)
        wait_for("the customer to answer", lambda: customer.answered(1), timeout=40)
        wait_for("agent and customer bridged", lambda: _bridged_customer(stack), timeout=5)
        try:
            cluster.stop()
            stopped = time.monotonic()
            wait_for("the call to end", lambda: not _bridged_customer(stack), timeout=30)
            time.sleep(max(0.0, 40 - (time.monotonic() - stopped)))
        finally:
            cluster.start()
        row = _closed(stack, rid, timeout=30)
        ccode, cout = customer.wait(timeout=30)
        assert ccode == 0, cout
        code, out = phone.wait(timeout=30)
        assert code == 0, out
        time.sleep(8)  # more than a lease: a request left open would be claimed again
        attempts = _attempts(stack, rid)
        log = ctl.log()
    finally:
        if not cluster.status().running:
            cluster.start()
        agent_action(ctl, "agent1", "logout")
        ctl.stop()
        phone.close()
        customer.close()
        _close_open_requests(stack)
    assert (row["status"], row["outcome"], row["attempts"]) == ("done", "answered", 1)
    assert row["dialing_by"] is None and row["last_agent"] == "agent1"
    (attempt,) = attempts
    assert attempt["result"] == "answered" and attempt["ended_at"] is not None
    assert customer.numbers() == [number]  # called once
    assert f"[cb {rid}] finish kept in the outcome spool" in log
    assert log.count(f"[cb {rid}] claimed by") == 1
    assert "Traceback" not in log
