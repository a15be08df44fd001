"""The Asterisk config rendered by `linja stack up` says what the controller relies on
(issue 15): the HTTP session limit its ARI pool stays below, and calls and files enough
for thousands of concurrent calls."""

from __future__ import annotations

import re
from pathlib import Path

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
