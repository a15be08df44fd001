"""Parallel test workers: each gets its own ports, RTP slice, state dir, cluster and Asterisk
instance, derived from the base settings, and no two ever meet."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from pydantic import ValidationError

from ivr.config import Settings
from ivr.stack.proc import StackError
from ivr.stack.workers import (
    MAX_OFFSET,
    check_disjoint,
    max_workers,
    worker_env,
    worker_settings,
)

PORTS = ("sip_port", "ari_port", "ami_port", "pg_port", "http_port")
CI_DEFAULTS: dict[str, object] = {
    "sip_port": 5060,
    "ari_port": 8088,
    "ami_port": 5038,
    "pg_port": 5433,
    "http_port": 8080,
    "rtp_start": 10000,
    "rtp_end": 19999,
    "callback_trunk": "127.0.0.1:5070",
}
DEV_BLOCK: dict[str, object] = {
    "sip_port": 5160,
    "ari_port": 8188,
    "ami_port": 5138,
    "pg_port": 5533,
    "http_port": 8180,
    "rtp_start": 21000,
    "rtp_end": 21999,
    "callback_trunk": "127.0.0.1:5170",
}


def _base(tmp_path: Path, **ports: object) -> Settings:
    # Every field that matters is given: the LINJA_* environment of the run does not count.
    return Settings(
        state_dir=tmp_path / ".run",
        asterisk_root=tmp_path / "root",
        asterisk_prefix="",
        pg_dir=None,
        audio_dir=None,
        **ports,  # type: ignore[arg-type]
    )


def _trunk(s: Settings) -> int:
    return int(s.callback_trunk.rsplit(":", 1)[1])


@pytest.mark.parametrize("ports", [CI_DEFAULTS, DEV_BLOCK], ids=["ci-defaults", "dev-block"])
@pytest.mark.parametrize("count", [1, 2, 3, 4, max_workers()])
def test_worker_ports_stay_in_the_block_and_never_meet(
    tmp_path: Path, ports: dict[str, object], count: int
) -> None:
    base = _base(tmp_path, **ports)
    stacks = [worker_settings(base, i, count) for i in range(count)]
    check_disjoint([base, *stacks])  # raises on any clash
    used = [getattr(s, p) for s in [base, *stacks] for p in PORTS] + [
        _trunk(s) for s in [base, *stacks]
    ]
    assert len(used) == len(set(used))
    for s in stacks:
        for p in PORTS:
            assert 0 < getattr(s, p) - getattr(base, p) <= MAX_OFFSET
        assert 0 < _trunk(s) - _trunk(base) <= MAX_OFFSET
    slices = sorted((s.rtp_start, s.rtp_end) for s in stacks)
    for (_, end), (next_start, _) in itertools.pairwise(slices):
        assert end < next_start
    for start, end in slices:
        assert base.rtp_start <= start < end <= base.rtp_end and start % 2 == 0


def test_each_worker_has_its_own_state_dir_cluster_audio_and_instance(tmp_path: Path) -> None:
    base = _base(tmp_path, **CI_DEFAULTS)
    stacks = [worker_settings(base, i, 3) for i in range(3)]
    for attr in ("state_dir", "pg_home", "audio_store_dir", "asterisk_prefix", "sounds_inner"):
        values = [getattr(s, attr) for s in [base, *stacks]]
        assert len(set(values)) == 4, (attr, values)
    for s in stacks:
        assert s.state_dir.parent == base.state_dir / "workers"
        assert s.asterisk_prefix.startswith("/srv/linja/")
        for inner in (s.sounds_inner, s.fallback_inner, s.recordings_inner):
            assert inner.startswith(s.asterisk_prefix + "/var/")
    # Another checkout sharing the root gets other instance dirs.
    other = worker_settings(_base(tmp_path / "other", **CI_DEFAULTS), 0, 3)
    assert other.asterisk_prefix != stacks[0].asterisk_prefix


def test_the_environment_gives_the_worker_its_settings(tmp_path: Path) -> None:
    base = _base(tmp_path, **DEV_BLOCK)
    env = worker_env(base, 1, 3)
    mine = worker_settings(base, 1, 3)
    assert env["LINJA_SIP_PORT"] == str(mine.sip_port) == "5166"
    assert env["LINJA_CALLBACK_TRUNK"] == "127.0.0.1:5176"
    assert env["LINJA_STATE_DIR"] == str(mine.state_dir)
    assert env["LINJA_PG_DIR"] == str(mine.pg_home)
    assert env["LINJA_ASTERISK_PREFIX"] == mine.asterisk_prefix


def test_an_explicit_cluster_dir_and_audio_dir_are_split_per_worker(tmp_path: Path) -> None:
    base = _base(tmp_path, **CI_DEFAULTS).model_copy(
        update={"pg_dir": tmp_path / "pg", "audio_dir": tmp_path / "audio"}
    )
    w0, w1 = (worker_settings(base, i, 2) for i in range(2))
    assert {w0.pg_home, w1.pg_home, base.pg_home} == {
        tmp_path / "pg",
        tmp_path / "pg-w0",
        tmp_path / "pg-w1",
    }
    assert w0.audio_store_dir == tmp_path / "audio" / "w0"


def test_a_layout_where_ports_meet_is_refused(tmp_path: Path) -> None:
    # The trunk 3 above SIP: worker 0's SIP port would be the base stack's trunk.
    base = _base(tmp_path, **{**CI_DEFAULTS, "callback_trunk": "127.0.0.1:5063"})
    with pytest.raises(StackError, match="port 5063"):
        worker_env(base, 0, 2)


def test_a_port_inside_an_rtp_range_is_refused(tmp_path: Path) -> None:
    base = _base(tmp_path, **{**CI_DEFAULTS, "http_port": 10500})
    with pytest.raises(StackError, match="RTP range"):
        worker_env(base, 0, 2)


def test_too_many_workers_or_too_small_an_rtp_range_is_refused(tmp_path: Path) -> None:
    base = _base(tmp_path, **CI_DEFAULTS)
    with pytest.raises(StackError, match="at most"):
        worker_settings(base, 0, max_workers() + 1)
    narrow = _base(tmp_path, **{**CI_DEFAULTS, "rtp_start": 20000, "rtp_end": 20030})
    with pytest.raises(StackError, match="too small"):
        worker_settings(narrow, 0, 2)


def test_the_instance_prefix_is_an_absolute_path_without_dot_parts(tmp_path: Path) -> None:
    for bad in ("srv/x", "/srv/../etc", "/srv/x/", "/srv/./x", "/srv/a b"):
        with pytest.raises(ValidationError):
            Settings(state_dir=tmp_path, asterisk_prefix=bad)
    ok = Settings(state_dir=tmp_path, asterisk_prefix="/srv/linja/abc-w0")
    assert ok.recordings_inner == "/srv/linja/abc-w0/var/spool/asterisk/recording"


def test_a_system_asterisk_keeps_its_prefix_under_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LINJA_ASTERISK_PREFIX", raising=False)  # set in a parallel worker
    s = Settings(state_dir=tmp_path / "st", asterisk_bin=Path("/usr/sbin/asterisk"))
    assert s.asterisk_prefix == str(tmp_path / "st" / "asterisk")
    w0 = worker_settings(s, 0, 2)
    assert w0.asterisk_prefix == str(w0.state_dir / "asterisk")


def test_ci_defaults_are_the_settings_defaults() -> None:
    fields = Settings.model_fields
    assert {k: fields[k].default for k in CI_DEFAULTS} == CI_DEFAULTS


@pytest.mark.parametrize("count", [4, max_workers()])
def test_the_default_rtp_range_holds_hundreds_of_calls_per_worker(
    tmp_path: Path, count: int
) -> None:
    # Issue 15: the base stack holds 5000 concurrent calls (two ports each); a worker's slice
    # still holds hundreds, so a test's burst never meets "488 Not Acceptable Here".
    base = _base(tmp_path, **CI_DEFAULTS)
    assert (base.rtp_end - base.rtp_start + 1) // 2 == 5000
    workers = [worker_settings(base, n, count) for n in range(count)]
    check_disjoint([base, *workers])
    assert min((w.rtp_end - w.rtp_start + 1) // 2 for w in workers) >= 5000 // count - 1
