"""Shared fixtures. Integration fixtures need the stack (`linja stack up`, done by `make test`).

Under pytest-xdist (`make test` runs `pytest -n N`) every worker runs its own stack: its
ports, state dir, Postgres cluster and Asterisk instance come from ivr/stack/workers.py and
are put into the environment in pytest_configure, before any Settings() of the worker (and
of the controllers its tests start, which inherit the environment). A worker brings its stack
up when a test first needs it and stops it when its session ends.

`make test` distributes with `--dist loadgroup --no-loadscope-reorder`: a test file goes to
one worker as a whole (and the browser and node tests' packages too), except the files in
SPREAD, whose tests share nothing but the worker's stack and are handed out one by one. The
slowest files come first (SLOW_FIRST), so that no worker is left with a long file at the end.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from ivr.config import Settings
from ivr.stack import control, workers
from storage.scratch import create_database, drop_database
from tests.support import xdist_worker


def pytest_configure(config: pytest.Config) -> None:
    index = xdist_worker()
    if index is not None:
        count = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
        os.environ.update(workers.worker_env(Settings(), index, count))


# Files whose tests use only function-scoped fixtures and the worker's session stack.
SPREAD = frozenset(
    {
        "tests/integration/test_callbacks.py",
        "tests/integration/test_recording.py",
        "tests/integration/test_call_center.py",
        "tests/integration/test_callout.py",
        "tests/integration/test_callbacks_kill9.py",
    }
)
# The browser tests (tests/integration/browser/) share one controller and one Chromium per
# worker (package-scoped fixtures), so they go to one worker together.
BROWSER = "tests/integration/browser/"
# The multi-node tests (tests/integration/nodes/) share one two-node stack per worker.
NODES_PACKAGE = "tests/integration/nodes/"
PACKAGES = (BROWSER, NODES_PACKAGE)
# Longest first, so that no long serial group starts near the end (a ci-fresh run of
# 2026-12-01 with 4 workers: the CPU had 25-50 % idle in the first seven minutes, while SIPp
# calls waited, and none in the last seven; the browser package, the transcripts file and the
# README examples each run on one worker, about 200, 150 and 140 s); the rest follow in
# collection order.
SLOW_FIRST = (
    BROWSER,  # about 20 tests on one worker, one controller and Chromium
    "tests/integration/test_transcripts.py",  # the model: CPU-bound, one runner (issue 18)
    "tests/integration/test_readme_examples.py",  # 140 s
    "tests/integration/test_callbacks.py",
    # 150 s + 120 s (issue 17): not in the first burst, where 200 callers met five stacks
    # starting at once and too few got through
    "tests/integration/test_callbacks_kill9.py",
    "tests/integration/test_callout.py",  # 7 tests (issue 16)
    "tests/integration/test_erasure_every_path.py",  # 70 s
    NODES_PACKAGE,  # two Asterisk nodes, Kamailio, two controllers
    "tests/integration/test_recording.py",
    "tests/integration/test_call_center.py",
    "tests/integration/test_retention.py",
    "tests/integration/test_management.py",
    "tests/integration/test_route_matrix.py",  # 50 s
    "tests/integration/test_bulletin_calls.py",
    "tests/integration/test_subject_rights.py",
    "tests/integration/test_bulletin_cli.py",
)


# First: xdist's own hook reads the xdist_group marks added here.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if xdist_worker() is None:
        return
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        package = _package(path)
        if package is not None:  # one worker: one controller and browser, one node stack
            item.add_marker(pytest.mark.xdist_group(package))
        elif path not in SPREAD:
            item.add_marker(pytest.mark.xdist_group(path))
    rank = {path: n for n, path in enumerate(SLOW_FIRST)}

    def place(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return rank.get(_package(path) or path, len(rank))

    items.sort(key=place)


def _package(path: str) -> str | None:
    return next((p for p in PACKAGES if path.startswith(p)), None)


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    """The settings of this run's stack. A parallel worker's own stack is brought up here
    and stopped at the end of the session; the base stack is left as it was."""
    if xdist_worker() is None:
        yield Settings()
        return
    own = control.up(Settings())
    try:
        yield own
    finally:
        control.down(own)


@pytest.fixture
def scratch_db(settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a fresh, fully migrated database; dropped afterwards."""
    scratch = asyncio.run(create_database(settings, prefix="linja_t"))
    try:
        yield scratch
    finally:
        asyncio.run(drop_database(scratch))


@pytest.fixture
def empty_db(settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a fresh database with no migrations applied."""
    scratch = asyncio.run(create_database(settings, prefix="linja_t", migrate=False))
    try:
        yield scratch
    finally:
        asyncio.run(drop_database(scratch))
