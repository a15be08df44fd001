"""The queue report's figures (:mod:`ivr.reports.queues`) and its query parsing."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from multidict import MultiDict

from ivr.flowdefs.model import Queue, TenantFlows
from ivr.http.problems import BadInput
from ivr.http.reports import QueueReports, parse_report_query
from ivr.reports.queues import Period, bucket_start, figures, percentile, report, to_csv
from storage.domain import TenantInfo
from storage.repositories.reports import Stay

HKI = ZoneInfo("Europe/Helsinki")
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 10:00 in Helsinki


def stay(
    exit_reason: str | None,
    wait: float | None,
    *,
    queue: str = "sales",
    at: datetime = T0,
    handle: float | None = None,
) -> Stay:
    return Stay(
        queue,
        at,
        exit_reason,
        None if wait is None else timedelta(seconds=wait),
        None if handle is None else timedelta(seconds=handle),
    )


def test_figures_count_each_exit_and_leave_short_abandons_out_of_the_service_level() -> None:
    stays = [
        stay("served", 5, handle=60),
        stay("served", 30, handle=120),
        stay("abandoned", 2),  # short: not in the service level
        stay("abandoned", 40),
        stay("overflowed", 0),
        stay("timeout", 600),
        stay(None, None),  # still waiting: offered, not yet counted
    ]
    f = figures(T0, "sales", stays)
    assert (f.offered, f.answered, f.abandoned, f.short_abandoned, f.overflowed) == (7, 2, 2, 1, 2)
    # counted: 7 - 1 short - 1 waiting = 5; in time: the 5 s answer
    assert f.service_level == 20.0
    assert f.average_wait == round((5 + 30 + 2 + 40 + 0 + 600) / 6, 3)
    assert f.p90_wait == 600.0
    assert f.average_handle == 90.0


def test_the_threshold_decides_what_is_answered_in_time() -> None:
    stays = [stay("served", 5), stay("served", 30)]
    assert figures(T0, "q", stays).service_level == 50.0
    assert figures(T0, "q", stays, threshold=timedelta(seconds=30)).service_level == 100.0


def test_nothing_counted_has_no_service_level_or_waits() -> None:
    f = figures(T0, "q", [stay("abandoned", 1), stay(None, None)])
    assert f.service_level is None
    assert f.average_handle is None
    assert f.average_wait == 1.0


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.9) is None
    assert percentile([3.0], 0.9) == 3.0
    assert percentile([float(i) for i in range(1, 11)], 0.9) == 9.0
    assert percentile([float(i) for i in range(1, 12)], 0.9) == 10.0


def test_days_and_hours_are_the_tenants_local_ones() -> None:
    late = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)  # 00:30 on 2 December in Helsinki
    assert bucket_start(late, HKI, Period.DAY) == datetime(2026, 12, 2, tzinfo=HKI)
    assert bucket_start(late, HKI, Period.HOUR) == datetime(2026, 12, 2, 0, tzinfo=HKI)
    rows = report(
        [stay("served", 1, at=T0), stay("served", 1, at=late), stay("served", 1, at=T0,
                                                                     queue="aaa")],
        HKI,
        Period.DAY,
    )  # fmt: skip
    assert [(r.period_start.day, r.queue, r.offered) for r in rows] == [
        (1, "aaa", 1), (1, "sales", 1), (2, "sales", 1)
    ]  # fmt: skip


def test_csv_has_a_header_and_empty_cells_for_missing_figures() -> None:
    rows = report([stay("served", 3, handle=30), stay(None, None)], HKI, Period.HOUR)
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert len(parsed) == 1
    assert parsed[0]["queue"] == "sales" and parsed[0]["offered"] == "2"
    assert parsed[0]["service_level"] == "100.0"
    assert parsed[0]["period_start"] == "2026-12-01T10:00:00+02:00"
    empty = report([stay(None, None)], HKI, Period.DAY)
    (only,) = csv.DictReader(io.StringIO(to_csv(empty)))
    assert only["average_handle"] == ""


def test_the_query_defaults_and_refuses_bad_parameters_by_name() -> None:
    q = parse_report_query(MultiDict({"by": "hour"}), T0)
    assert (q.until, q.until - q.since, q.period) == (T0, timedelta(days=1), Period.HOUR)
    with pytest.raises(BadInput) as bad:
        parse_report_query(
            MultiDict([("by", "week"), ("threshold", "0"), ("format", "xls"), ("from", "x"),
                       ("queue", "a"), ("queue", "b"), ("colour", "red")]),
            T0,
        )  # fmt: skip
    assert set(bad.value.errors) == {"by", "threshold", "format", "from", "queue", "colour"}
    with pytest.raises(BadInput) as reversed_:
        parse_report_query(MultiDict({"from": "2026-12-02T00:00Z", "to": "2026-12-01T00:00Z"}), T0)
    assert set(reversed_.value.errors) == {"to"}


def test_each_queue_counts_within_its_own_threshold() -> None:
    """Issue 14: the service level is per queue (its ``service_level_threshold``)."""
    stays = [stay("served", 15), stay("served", 30)]
    stays += [stay("served", 15, queue="support"), stay("served", 30, queue="support")]
    stays += [stay("served", 15, queue="other"), stay("served", 30, queue="other")]
    rows = report(
        stays,
        HKI,
        Period.DAY,
        thresholds={"sales": timedelta(seconds=10), "support": timedelta(seconds=45)},
    )
    by_queue = {r.queue: (r.service_level, r.threshold) for r in rows}
    assert by_queue == {
        "sales": (0.0, 10.0),  # neither within 10 s
        "support": (100.0, 45.0),  # both within 45 s
        "other": (50.0, 20.0),  # not in the flow file: the default 20 s
    }
    (sales,) = [r for r in csv.DictReader(io.StringIO(to_csv(rows))) if r["queue"] == "sales"]
    assert sales["threshold"] == "10.0"


class _Stays:
    """The report repository, holding ``rows``."""

    def __init__(self, rows: list[Stay]) -> None:
        self.rows = rows

    async def stays(
        self, tenant_id: uuid.UUID, since: datetime, until: datetime, *, queue: str | None = None
    ) -> list[Stay]:
        return self.rows


class _Flows:
    def __init__(self, flows: TenantFlows) -> None:
        self.flows = flows

    def get(self, tenant: str) -> TenantFlows | None:
        return self.flows if tenant == self.flows.tenant else None


async def test_the_report_takes_each_queues_threshold_from_the_flow_file() -> None:
    tenant = TenantInfo(uuid.uuid4(), "acme", "Acme", "fi", *(timedelta(days=30),) * 3)
    flows = TenantFlows(
        tenant="acme", language="fi", entry="main", prompts={}, menus={}, hours=None,
        queues={"sales": Queue("sales", ("agent1",), service_level_threshold=40.0)},
        source="acme.toml",
    )  # fmt: skip
    repo = _Stays([stay("served", 30), stay("served", 50)])

    async def tenant_of(tenant_id: uuid.UUID) -> TenantInfo | None:
        return tenant

    reports = QueueReports(repo, tenant_of, _Flows(flows))  # type: ignore[arg-type]
    (row,) = await reports.figures(tenant.id, parse_report_query(MultiDict(), T0))
    assert (row.threshold, row.service_level) == (40.0, 50.0)  # 30 s within 40 s
    (row,) = await reports.figures(
        tenant.id, parse_report_query(MultiDict({"threshold": "60"}), T0)
    )
    assert (row.threshold, row.service_level) == (60.0, 100.0)  # the query's, for all


def test_a_short_abandon_is_one_under_5_s_and_only_it_is_left_out() -> None:
    """Issue 14's rule: abandons under 5 s are not counted in the service level; 5 s is."""
    stays = [stay("served", 3), stay("abandoned", 4.999), stay("abandoned", 5.0)]
    f = figures(T0, "sales", stays)
    assert (f.abandoned, f.short_abandoned) == (2, 1)
    assert f.service_level == 50.0  # 1 answered in time of 3 - 1 short


def test_days_reset_at_local_midnight_also_when_summer_time_ends() -> None:
    """25 October 2026 has 25 hours in Helsinki: its midnight is 21:00 UTC the day before
    (summer time), the next one 22:00 UTC."""
    before = datetime(2026, 10, 24, 20, 59, 59, tzinfo=UTC)  # 23:59:59 on the 24th
    first = datetime(2026, 10, 24, 21, 0, tzinfo=UTC)  # 00:00 on the 25th
    last = datetime(2026, 10, 25, 21, 59, 59, tzinfo=UTC)  # 23:59:59 on the 25th
    after = datetime(2026, 10, 25, 22, 0, tzinfo=UTC)  # 00:00 on the 26th
    rows = report([stay("served", 1, at=t) for t in (before, first, last, after)], HKI, Period.DAY)
    assert [(r.period_start.day, r.offered) for r in rows] == [(24, 1), (25, 2), (26, 1)]
    assert rows[1].period_start.utcoffset() == timedelta(hours=3)
