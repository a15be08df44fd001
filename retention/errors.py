"""Errors of the retention package (domain errors; storage errors pass through as they are).

Exception tree::

    Exception
    └── RetentionError            a sweep, export, erasure or restriction could not be done
        ├── BadSubject            the phone number / e-mail identifies nobody (also ValueError)
        ├── UnknownActor          the named operator (``--by``) is not an active user
        └── BundleExists          the export directory already exists (nothing overwritten)
"""

from __future__ import annotations


class RetentionError(Exception):
    pass


class BadSubject(RetentionError, ValueError):
    pass


class UnknownActor(RetentionError):
    pass


class BundleExists(RetentionError):
    pass
