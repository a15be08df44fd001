"""The Asterisk config rendered by `linja stack up` says what the controller relies on
(issue 15): the HTTP session limit its ARI pool stays below, and calls and files enough
for thousands of concurrent calls."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from ivr.ari.client import KEEPALIVE_S, pool_size
from ivr.config import Settings
from ivr.stack.asterisk import ARI_KEEP_ALIVE_MS, AsteriskServer


def _render(tmp_path: Path, **settings: object) -> Path:
    s = Settings(
        state_dir=tmp_path / ".run",
        asterisk_root=tmp_path / "root",
        asterisk_prefix="",
        ari_password="ari-secret",  # type: ignore[arg-type]
        ami_password="ami-secret",  # type: ignore[arg-type]
        **settings,  # type: ignore[arg-type]
    )
    AsteriskServer(s).render()
    return tmp_path / "root" / "etc" / "asterisk"


def _option(text: str, name: str) -> int:
    match = re.search(rf"^{name}\s*=\s*(\d+)\s*$", text, re.MULTILINE)
    assert match, f"{name} not set"
    return int(match[1])


def test_the_ari_pool_stays_below_the_rendered_session_limit(tmp_path: Path) -> None:
    etc = _render(tmp_path, ari_sessions=50, ari_sessions_reserved=6)
    http = (etc / "http.conf").read_text()
    assert _option(http, "sessionlimit") == 50
    assert pool_size(50, 6) == 44 < 50
    # Idle pooled connections go before Asterisk closes them.
    assert KEEPALIVE_S * 1000 < _option(http, "session_keep_alive") == ARI_KEEP_ALIVE_MS


def test_calls_and_files_are_sized_for_thousands_of_calls(tmp_path: Path) -> None:
    etc = _render(tmp_path, rtp_start=10000, rtp_end=19999)
    conf = (etc / "asterisk.conf").read_text()
    assert _option(conf, "maxcalls") >= 5000
    assert _option(conf, "maxfiles") >= 65536
    rtp = (etc / "rtp.conf").read_text()
    assert (_option(rtp, "rtpend") - _option(rtp, "rtpstart") + 1) // 2 == 5000


def test_an_asterisk_slow_to_stop_is_terminated_not_left_with_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`core stop now` that does not return in 15 s (Asterisk hanging up a burst of calls on a
    loaded machine: 16.5 s seen) goes on to SIGTERM and SIGKILL."""
    import ivr.stack.asterisk as module

    s = Settings(state_dir=tmp_path / ".run", asterisk_root=tmp_path / "root", asterisk_prefix="")
    server = AsteriskServer(s)
    server.pidfile.parent.mkdir(parents=True, exist_ok=True)
    server.pidfile.write_text("4242\n")
    signalled: list[int] = []

    def slow_cli(cmd: list[str], **kw: object) -> None:
        raise subprocess.TimeoutExpired(cmd, 15)

    monkeypatch.setattr(module, "pid_alive", lambda pid: pid == 4242 and not signalled)
    monkeypatch.setattr(module, "run", slow_cli)
    monkeypatch.setattr(module, "terminate", lambda pid, timeout: signalled.append(pid))
    server.stop()
    assert signalled == [4242] and not server.pidfile.exists()
