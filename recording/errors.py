"""Errors of the recording machinery (bridge recordings, voice messages, finalising).

Exception tree::

    Exception
    └── RecordingError              anything that went wrong with a recording
        ├── NotRecording            no live recording for that case (pause/resume refused)
        ├── PauseConflict           pause while paused, resume while not paused
        └── RecordingLost           the audio could not be kept (.reason says why); the flow
            │                       writes a row with status failed and that reason
            └── NoAudio             the file holds no audio at all (missing, not a wav, or
                                    only a header): nothing there to keep

ARI failures stay :mod:`ivr.ari.errors` types until the boundary that turns them into a
failed row or an HTTP status.
"""

from __future__ import annotations

import uuid


class RecordingError(Exception):
    """Base class for recording failures."""


class NotRecording(RecordingError):
    def __init__(self, case_id: uuid.UUID) -> None:
        super().__init__(f"case {case_id} has no live recording")
        self.case_id = case_id


class PauseConflict(RecordingError):
    """Pausing a paused recording, or resuming one that is not paused."""


class RecordingLost(RecordingError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NoAudio(RecordingLost):
    """The file Asterisk left holds no audio: missing, not a wav, or only a header."""
