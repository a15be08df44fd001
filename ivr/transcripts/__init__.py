"""Transcripts of recordings and voice messages, with personal data removed (issue 18).

- :mod:`ivr.transcripts.numbers`: spoken numbers (Finnish, English) to digits; pure.
- :mod:`ivr.transcripts.redactor`: identifiers to labelled placeholders; pure.
- :mod:`ivr.transcripts.model`: the model files (assembled from the pinned repack, checked).
- :mod:`ivr.transcripts.engine`: the faster-whisper adapter (runs in the runner process).
- :mod:`ivr.transcripts.runner`: the low-priority subprocess that holds the model.
- :mod:`ivr.transcripts.worker`: claims jobs, transcribes through the runner, redacts, stores.
- :mod:`ivr.transcripts.quality`: word error rate and redaction recall/precision.
- :mod:`ivr.transcripts.testset`: the espeak-ng test set with its ground truth.
"""
