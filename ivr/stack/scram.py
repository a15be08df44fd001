"""SCRAM-SHA-256 verifiers as Postgres stores them, so a password can be set without the
plain text ever reaching the server, its logs or a command line (RFC 5802, RFC 7677)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata

ITERATIONS = 4096  # Postgres' own default (scram_iterations)


def verifier(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``, base64 parts."""
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", _prepared(password), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def _prepared(password: str) -> bytes:
    # Postgres runs SASLprep on the password; for the generated (ASCII) secrets that is the
    # identity, and for others its main step is NFKC normalisation.
    if password.isascii():
        return password.encode()
    return unicodedata.normalize("NFKC", password).encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
