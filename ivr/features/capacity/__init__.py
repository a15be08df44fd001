"""Surges: reconciler, loop lag, busy prompts, /metrics."""
