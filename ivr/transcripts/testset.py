"""The transcript test set: espeak-ng clips at 8 kHz of callers saying identifiers among
ordinary sentences, with the ground truth; and an RTP pcap of a clip for SIPp.

Each :class:`Clip` has the sentences spoken (numbers as the words a caller says) and the
identifiers in it (phone number, e-mail address, personal identity code, card number) in
their written form. :func:`render` speaks a clip with espeak-ng and converts it with sox to
8 kHz mono 16-bit (phone quality); :func:`wav_to_pcap` packs such a wav as PCMA RTP in
20 ms packets, the form SIPp's ``play_pcap_audio`` sends.
"""

from __future__ import annotations

import struct
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

FI_DIGITS = ("nolla", "yksi", "kaksi", "kolme", "neljä", "viisi", "kuusi", "seitsemän",
             "kahdeksan", "yhdeksän")  # fmt: skip
EN_DIGITS = ("oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True, slots=True)
class Identifier:
    label: str  # PHONE, EMAIL, HETU, CARD
    value: str  # written form: 0401234567, matti.virtanen@esimerkki.fi, ...


@dataclass(frozen=True, slots=True)
class Clip:
    name: str
    language: str
    sentences: tuple[str, ...]
    identifiers: tuple[Identifier, ...]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def spell(digits: str, language: str, group: int = 3) -> str:
    """Digits as a caller says them, one by one in groups: "040 123" -> "nolla neljä nolla,
    yksi kaksi kolme"."""
    words = FI_DIGITS if language == "fi" else EN_DIGITS
    parts = [digits[i : i + group] for i in range(0, len(digits), group)]
    return ", ".join(" ".join(words[int(d)] for d in part) for part in parts)


CLIPS = (
    Clip(
        "fi-caller",
        "fi",
        (
            "Hei, soitan laskustani, joka tuli viime viikolla.",
            f"Puhelinnumeroni on {spell('0405556677', 'fi')}.",
            "Sähköpostiosoitteeni on matti piste virtanen ät esimerkki piste fi.",
            f"Henkilötunnukseni on {spell('131052', 'fi')} viiva {spell('308', 'fi')} T.",
            f"Korttini numero on {spell('4539148803436467', 'fi', 4)}.",
            "Kiitos, odotan yhteydenottoa.",
        ),
        (
            Identifier("PHONE", "0405556677"),
            Identifier("EMAIL", "matti.virtanen@esimerkki.fi"),
            Identifier("HETU", "131052-308T"),
            Identifier("CARD", "4539148803436467"),
        ),
    ),
    Clip(
        "en-caller",
        "en",
        (
            "Hello, I am calling about the invoice I got last week.",
            f"My phone number is {spell('0405556677', 'en')}.",
            "My email is john dot smith at example dot com.",
            f"My personal code is {spell('131052', 'en')} dash {spell('308', 'en')} T.",
            f"My card number is {spell('4539148803436467', 'en', 4)}.",
            "Thank you, please call me back.",
        ),
        (
            Identifier("PHONE", "0405556677"),
            Identifier("EMAIL", "john.smith@example.com"),
            Identifier("HETU", "131052-308T"),
            Identifier("CARD", "4539148803436467"),
        ),
    ),
)
# What the SIPp caller says on a recorded call (short: the call lasts as long as the clip).
CALL_CLIP = Clip(
    "en-call",
    "en",
    (
        f"My phone number is {spell('0405556677', 'en')}.",
        f"My card number is {spell('4539148803436467', 'en', 4)}.",
        "Thank you.",
    ),
    (Identifier("PHONE", "0405556677"), Identifier("CARD", "4539148803436467")),
)
VOICES = {"fi": "fi", "en": "en", "sv": "sv"}


def render(clip: Clip, out: Path, *, speed: int = 160) -> Path:
    """``out`` (8 kHz mono 16-bit wav) made with espeak-ng and sox; kept when it exists. The
    same bytes every time (sox -R seeds its dither): Whisper *base* on this Finnish turns
    on a sample's noise, and a test set must be one set."""
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = out.with_suffix(".espeak.wav")
    subprocess.run(
        ["espeak-ng", "-v", VOICES[clip.language], "-s", str(speed), "-w", str(raw), clip.text],
        check=True,
        capture_output=True,
    )
    tmp = out.with_suffix(".tmp.wav")
    subprocess.run(
        ["sox", "-R", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(tmp)],
        check=True,
        capture_output=True,
    )
    raw.unlink()
    tmp.replace(out)
    return out


def _alaw(sample: int) -> int:
    """One 16-bit linear sample to G.711 A-law."""
    sign = 0x80 if sample >= 0 else 0
    if sample < 0:
        sample = -sample - 1
    sample = min(sample >> 3, 0x0FFF)
    if sample >= 0x20:
        exp = sample.bit_length() - 5
        mant = (sample >> exp) & 0x0F
        code = (exp << 4) | mant
    else:
        code = sample >> 1
    return (code | sign) ^ 0x55


def wav_to_pcap(wav: Path, pcap: Path, *, tail_ms: int = 0) -> float:
    """Pack an 8 kHz mono 16-bit wav as PCMA RTP (20 ms a packet) in a pcap; returns the
    audio's length in seconds. ``tail_ms`` of silence are added at the end."""
    with wave.open(str(wav), "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (8000, 1, 2):
            raise ValueError(f"{wav}: need 8 kHz mono 16-bit")
        frames = w.readframes(w.getnframes())
    samples = list(struct.unpack(f"<{len(frames) // 2}h", frames))
    samples += [0] * (8 * tail_ms)
    payload = bytes(_alaw(s) for s in samples)
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    seq, ts, t = 1, 0, 0.0
    for off in range(0, len(payload), 160):
        chunk = payload[off : off + 160].ljust(160, b"\xd5")
        rtp = struct.pack("!BBHII", 0x80, 8, seq & 0xFFFF, ts & 0xFFFFFFFF, 0x4C494E4A) + chunk
        udp = struct.pack("!HHHH", 6000, 6002, 8 + len(rtp), 0) + rtp
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
            bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]),
        ) + udp  # fmt: skip
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        sec, usec = int(t), round((t - int(t)) * 1e6)
        out += struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame
        seq, ts, t = seq + 1, ts + 160, t + 0.02
    pcap.write_bytes(bytes(out))
    return len(samples) / 8000
