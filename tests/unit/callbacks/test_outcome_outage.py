"""Issue 17 item 5: a callback's outcome survives a Postgres outage longer than the dialer's
write retries. It is kept in the dialer's fsync'd outcome spool, written exactly once when
Postgres is back (before anything is claimed again, also after a restart), and the customer
who was already served is not called again."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

from ivr.callbacks.outbox import OutcomeSpool, PendingWrite
from storage.errors import StorageError
from storage.events import CallbackOutcome, CallbackResult
from tests.unit.callbacks.test_dialer import CUSTOMER, NUMBER, PLACE, T0, World, results

OLD_BUDGET_TRIES = 3  # 0.01 + 0.02 + 0.04 s of backoff: the outage below lasts far longer


async def _served_while_postgres_goes_down(w: World) -> None:
    """agent1 answers, the customer answers and is bridged; Postgres goes away and the
    customer hangs up 30 s later (the outcome cannot be written)."""
    agent = await w.answer_agent("agent1")
    customer = await w.rung(CUSTOMER)
    w.fake.start_call(customer, args=["callback-customer"])
    await w.until(lambda: w.bridged(agent, customer))
    await w.until(lambda: bool(w.store.calls("attempt_answered")))
    w.store.down = True
    w.clock.advance(30)
    w.fake.hangup(customer)
    await w.until(lambda: len(w.store.calls("end_attempt")) >= OLD_BUDGET_TRIES)
    await asyncio.sleep(0.3)  # longer than the old retry budget


async def test_i17_5_outcome_outlives_a_postgres_outage_and_the_customer_is_not_called_again(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)
    a = w.controller(db_retries=OLD_BUDGET_TRIES)
    r = w.store.add(NUMBER, PLACE)
    a.coord.login("agent1")
    async with w.running(a):
        await _served_while_postgres_goes_down(w)
        assert (r.status, r.outcome) == ("open", None)  # nothing could be written yet
        w.store.down = False
        w.clock.advance(61)  # the lease has run out meanwhile
        a.dialer.notify()
        await w.until(lambda: r.status == "done", timeout=2.0)
        await asyncio.sleep(0.3)  # polls go on: nothing is dialled again
    assert len(w.legs("PJSIP/agent1")) == 1 and len(w.legs(CUSTOMER)) == 1
    assert (r.outcome, r.attempts, r.dialing_by) == (CallbackOutcome.ANSWERED, 1, None)
    assert r.served == (T0, T0 + timedelta(seconds=30))
    assert results(w.store.attempts(r.id)) == [CallbackResult.ANSWERED]
    assert w.store.attempts(r.id)[0].ended_at == T0 + timedelta(seconds=30)
    finished = [op for op in w.store.calls("finish", "claim")]
    assert finished[-1] == "finish" and finished.count("claim") == 1  # one claim, ever


async def test_i17_5_a_pending_outcome_is_replayed_after_a_restart_before_any_claim(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)
    spool = tmp_path / "outcomes"
    a = w.controller("ctl-a", db_retries=OLD_BUDGET_TRIES, spool=spool)
    r = w.store.add(NUMBER, PLACE)
    a.coord.login("agent1")
    async with w.running(a):
        await _served_while_postgres_goes_down(w)
    assert (r.status, r.dialing_by) == ("open", "ctl-a")  # the controller stopped mid-outage
    assert NUMBER.encode() not in b"".join(p.read_bytes() for p in spool.glob("seg-*"))

    w.store.down = False
    w.clock.advance(120)  # the old lease ran out long ago
    before = len(w.store.ops)
    b = w.controller("ctl-b", spool=spool)  # the restarted controller: a new id, same spool
    b.coord.login("agent1")
    async with w.running(b):
        await w.until(lambda: r.status == "done", timeout=2.0)
        await asyncio.sleep(0.3)
    after = [op for op, _ in w.store.ops[before:] if op in ("finish", "claim", "due")]
    assert after[0] == "finish" and "claim" not in after  # replayed first, never claimed
    assert (r.outcome, r.attempts) == (CallbackOutcome.ANSWERED, 1)
    assert r.served == (T0, T0 + timedelta(seconds=30))
    assert results(w.store.attempts(r.id)) == [CallbackResult.ANSWERED]
    assert len(w.legs("PJSIP/agent1")) == 1 and len(w.legs(CUSTOMER)) == 1
    assert list(spool.glob("seg-*")) == []  # written, then forgotten


async def test_i17_5_a_spooled_write_the_database_refuses_is_kept_aside_not_replayed(
    tmp_path: Path,
) -> None:
    spool = OutcomeSpool(tmp_path)
    spool.open()
    rid, later = uuid.uuid4(), uuid.uuid4()
    served = (T0, T0 + timedelta(seconds=30))
    kept = [
        PendingWrite("finish", rid, "ctl-a", T0, outcome="answered", served=served),
        PendingWrite("release", later, "ctl-a"),
    ]
    for w in kept:
        await spool.add(w)
    assert spool.holds(rid) and spool.holds(later) and not spool.empty
    written: list[PendingWrite] = []

    async def write(w: PendingWrite) -> None:
        if w.op == "finish":
            raise StorageError("violates check constraint (test)")
        written.append(w)

    assert await spool.replay(write)
    assert written == kept[1:] and spool.empty and not spool.holds(rid)
    (line,) = (tmp_path / "rejected.jsonl").read_bytes().splitlines(keepends=True)
    assert PendingWrite.decode(line) == kept[0]  # round-trips, times and all
    assert await spool.replay(write) and len(written) == 1  # never replayed again
    await spool.close()
