"""RTP audio for the SIPp call-out members (tests and ``make bench-callout``), cut from the
pcap sip-tester ships (``/usr/share/sip-tester/g711a.pcap``: 7 s of PCMA, 0.9 s of silence,
then continuous speech, 30 ms packets).

- :func:`machine_pcap` is an answering machine: a greeting of 4 s (the file's first 4 s:
  3.1 s of speech), then the line's silence. Asterisk's ``AMD()`` (defaults,
  ``asterisk-conf/amd.conf``) says MACHINE (LONGGREETING) about 2.6 s after the answer, and
  the dialplan's ``WaitForSilence(1000)`` ends about 1 s after the greeting;
- :func:`hello_pcap` is a person saying one word: 0.55 s of the same speech, then silence:
  HUMAN about 1.3 s after the answer, before the members' key at 2 s.

Silence is the captured packets with their audio silenced: headers and timing stay as
captured. :func:`member_audio` writes both where the SIPp scenario looks for them.
"""

from __future__ import annotations

import struct
from pathlib import Path

__all__ = ["GREETING_PCAP", "hello_pcap", "machine_pcap", "member_audio"]

GREETING_PCAP = Path("/usr/share/sip-tester/g711a.pcap")
_GLOBAL = 24  # pcap file header
_RECORD = struct.Struct("<IIII")  # ts_sec, ts_usec, incl_len, orig_len
_HEADERS = 14 + 20 + 8 + 12  # Ethernet, IPv4, UDP, RTP: the audio follows
_ALAW_SILENCE = 0xD5


def member_audio(directory: Path) -> None:
    """``hello.pcap`` and ``machine.pcap`` (callout-member.xml plays them) in ``directory``."""
    hello_pcap(directory / "hello.pcap")
    machine_pcap(directory / "machine.pcap")


def hello_pcap(dest: Path, *, source: Path = GREETING_PCAP) -> Path:
    return _cut(source, dest, skip=0.75, speech=0.55, length=2.5)


def machine_pcap(dest: Path, *, source: Path = GREETING_PCAP) -> Path:
    return _cut(source, dest, skip=0.0, speech=4.0, length=7.0)


def _cut(source: Path, dest: Path, *, skip: float, speech: float, length: float) -> Path:
    """Writes ``dest``: ``source`` from ``skip`` seconds on, ``speech`` seconds of it as
    captured and silence up to ``length`` seconds; returns ``dest``."""
    data = source.read_bytes()
    out = bytearray(data[:_GLOBAL])
    offset = _GLOBAL
    first: float | None = None
    while offset + _RECORD.size <= len(data):
        sec, usec, incl, orig = _RECORD.unpack_from(data, offset)
        packet = bytearray(data[offset + _RECORD.size : offset + _RECORD.size + incl])
        offset += _RECORD.size + incl
        at = sec + usec / 1e6
        first = at if first is None else first
        t = at - first
        if t < skip:
            continue
        if t >= skip + length:
            break
        if t >= skip + speech:
            packet[_HEADERS:] = bytes([_ALAW_SILENCE]) * (len(packet) - _HEADERS)
        out += _RECORD.pack(sec, usec, incl, orig) + packet
    dest.write_bytes(bytes(out))
    return dest
