"""The feature seam: every feature is a folder with a ``feature.py`` whose ``wire(core)``
``linja serve`` runs; features offer each other services by class; ``serve`` stays small."""

from __future__ import annotations

import inspect
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

import ivr
from ivr.app import FEATURES, load_feature, serve
from ivr.core import MissingService, Services
from tests.unit.fake_ari import FakeAri
from tests.unit.fake_core import fake_core
from tests.unit.flows.support_recording import Sink
from tests.unit.wiring import wire_all

IVR = Path(ivr.__file__).parent / "features"


def test_every_feature_is_a_folder_with_an_async_wire() -> None:
    assert len(FEATURES) == len(set(FEATURES)) >= 9
    for name in FEATURES:
        assert (IVR / name / "feature.py").is_file(), name
        assert (IVR / name / "__init__.py").is_file(), name
        assert inspect.iscoroutinefunction(load_feature(name)), name


def test_an_unknown_feature_is_refused() -> None:
    with pytest.raises(ModuleNotFoundError):
        load_feature("no_such_feature")


def test_serve_only_builds_the_core_and_runs_the_features() -> None:
    lines = inspect.getsource(serve).splitlines()
    assert len(lines) < 60, len(lines)


def test_services_by_class() -> None:
    services = Services()
    services.offer(Sink(), "a text")
    assert isinstance(services.need(Sink), Sink)
    assert services.need(str) == "a text"
    with pytest.raises(MissingService, match="FakeAri"):
        services.need(FakeAri)
    with pytest.raises(ValueError, match="offered twice"):
        services.offer("another text")


async def test_every_feature_wires_onto_one_core(tmp_path: Path) -> None:
    core = fake_core(tmp_path)
    async with AsyncExitStack() as stack:
        wired = await wire_all(core, stack)
    assert [f.name for f in wired] == list(FEATURES)
    flows = {f.name for feature in wired for f in feature.flows}
    assert flows == {
        "announcement",
        "menu",
        "agent-login",
        "callout-member",
        "callback-agent",
        "callback-customer",
    }
    tasks = [name for feature in wired for name, _ in feature.tasks]
    assert len(tasks) == len(set(tasks))
    assert {
        "callback-dialer",
        "callout-dialer",
        "retention-sweep",
        "queues",
        "recording-recovery",
        "reconciler",
        "loop-lag",
    } <= set(tasks)
    # /metrics reads the core at scrape time (issue 15)
    metrics = core.metrics.render().decode()
    for gauge in ("linja_flows_in_flight", "linja_ari_requests_in_flight", "linja_spool_bytes"):
        assert f"{gauge} 0.0" in metrics
    assert "linja_event_loop_lag_seconds" in metrics


async def test_features_out_of_order_name_the_missing_service(tmp_path: Path) -> None:
    core = fake_core(tmp_path)
    with pytest.raises(MissingService, match="NoticeFlow"):
        await load_feature("menus")(core)
    await core.engine.dispose()
