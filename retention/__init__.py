"""Retention and data-subject rights.

- :mod:`retention.sweeper`: delete audio past its tenant's retention, crash-safe, batched;
  anonymise old cases; keep the audio store and the database in step.
- :mod:`retention.exporter`: a machine-readable bundle of everything about one person.
- :mod:`retention.eraser`: erase one person's data and leave a ledger entry that stays.
- :mod:`retention.restrictor`: restrict (and lift) processing of one person's data.
- :mod:`retention.periodic`: the sweep as a background task of the service.
- :mod:`retention.bench`: ``make bench-retention``.
- :mod:`retention.bench_export`: ``make bench-export``.

No aiohttp here; the CLI (:mod:`ivr.features.sweep.cli`, :mod:`ivr.features.subjects.cli`) and the
API (:mod:`ivr.http.subjects`) are thin shells over these.
"""
