"""Repairs the header of a wav file its writer never closed.

Asterisk writes a wav header with RIFF and data sizes of 0 when a recording starts and fills
them in when it closes the file. If Asterisk dies mid-recording (crash, ``kill -9``, power
loss), the audio is on disk but the header still says "no data", and readers reject the
file. :func:`repair_unclosed_wav` sets both sizes from the file's length so the audio up to
the crash can be kept. Only plain PCM files with exactly that unfinished shape are touched;
anything else is left as it is.
"""

from __future__ import annotations

import struct
from pathlib import Path

_HEADER = struct.Struct("<4sI4s")  # "RIFF", size, "WAVE"
_CHUNK = struct.Struct("<4sI")
_FMT = struct.Struct("<HHIIHH")  # format, channels, rate, byte rate, block align, bits
_PCM = 1
_MAX_CHUNKS = 16


def repair_unclosed_wav(path: Path) -> bool:
    """Fix the RIFF and data sizes of an unclosed PCM wav in place; True when repaired.

    A file is repaired only when it is a RIFF/WAVE file with a PCM ``fmt `` chunk followed by
    a ``data`` chunk whose size is 0 or runs past the end of the file, and there is audio
    after the header. The data size is rounded down to whole sample frames.
    """
    with path.open("r+b") as fh:
        head = fh.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return False
        riff, _, wave = _HEADER.unpack(head)
        if riff != b"RIFF" or wave != b"WAVE":
            return False
        size = fh.seek(0, 2)
        offset = _HEADER.size
        block_align = 0
        for _ in range(_MAX_CHUNKS):
            fh.seek(offset)
            raw = fh.read(_CHUNK.size)
            if len(raw) < _CHUNK.size:
                return False
            tag, length = _CHUNK.unpack(raw)
            body = offset + _CHUNK.size
            if tag == b"fmt ":
                fmt = fh.read(_FMT.size)
                if len(fmt) < _FMT.size:
                    return False
                audio_format, _, _, _, block_align, _ = _FMT.unpack(fmt)
                if audio_format != _PCM or block_align <= 0:
                    return False
            elif tag == b"data":
                if block_align == 0:
                    return False  # data before fmt: not the shape Asterisk writes
                available = size - body
                if length != 0 and length <= available:
                    return False  # a finished header: nothing to do
                frames_bytes = available - available % block_align
                if frames_bytes <= 0:
                    return False
                fh.seek(4)
                fh.write(struct.pack("<I", body + frames_bytes - 8))
                fh.seek(offset + 4)
                fh.write(struct.pack("<I", frames_bytes))
                fh.flush()
                return True
            offset = body + length + (length & 1)
            if offset >= size:
                return False
        return False
