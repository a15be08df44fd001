"""The disruption-bulletin service: prepared audio, fallback files, anonymous counters."""
