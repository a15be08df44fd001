"""Lookup keys for the erasure ledger: find a person's entries with one index probe.

A ledger entry's ``subject_digests`` use a fresh random salt per entry, so matching them
means one slow PBKDF2 per entry and identifier: an access request against 1,000 entries
took seconds of CPU. ``subject_keys`` are the same kind of one-way digest (PBKDF2-SHA256 of
the canonical identifier, as in :mod:`storage.contacts`) but salted per tenant (with the
tenant's id), so a request computes the person's keys once and the database finds the
entries through an index. The ledger still holds no personal data: the keys cannot be read
back, only recomputed from the identifier, and with more iterations than an entry's digest
because they are computed only once per request. The trade-off against per-entry salts: two
erasures of the same person in one tenant carry equal keys.

Pure and CPU-bound (about 0.1 s per identifier): call it off the event loop
(``asyncio.to_thread``).
"""

from __future__ import annotations

import hashlib
import uuid

from storage.contacts import Subject

LOOKUP_ITERATIONS = 200_000
_CONTEXT = b"linja-erasure-ledger/1:"


def _identifiers(subject: Subject) -> list[str]:
    keys: list[str] = []
    if subject.number:
        keys.append("n:" + subject.number)
    if subject.email:
        keys.append("e:" + subject.email)
    return keys


def subject_keys(tenant_id: uuid.UUID, subject: Subject) -> list[str]:
    """One hex key per identifier of the subject (number, e-mail), for this tenant."""
    salt = _CONTEXT + tenant_id.bytes
    return [
        hashlib.pbkdf2_hmac("sha256", k.encode(), salt, LOOKUP_ITERATIONS).hex()
        for k in _identifiers(subject)
    ]
