"""Linja's own thin ARI layer; the only package that builds ARI paths.

- :mod:`ivr.ari.client`: ``AriClient``, REST (:class:`ivr.ari.protocol.AriRest`) over
  :mod:`ivr.ari.http1`, a lean pool of keep-alive HTTP/1.1 connections;
- :mod:`ivr.ari.events`: ``EventStream``, the ``/ari/events`` websocket (aiohttp) with
  reconnect; :mod:`ivr.ari.filters`: the event types the flows use, and the application
  event filter asking ARI for only those;
- :mod:`ivr.ari.dispatcher`: ``Dispatcher``, one task and one :class:`~ivr.ari.call.Call` per
  channel;
- handles: :mod:`ivr.ari.call` (``Call``: playback, DTMF, recording, music on hold),
  :mod:`ivr.ari.bridge` (``Bridge``), :mod:`ivr.ari.recordings` (``LiveRecording``),
  :mod:`ivr.ari.originate` (``Originate``: a new leg);
- :mod:`ivr.ari.errors`: the exception tree.

Nothing is re-exported here: importing a handle must not import aiohttp (the call flows
use the handles and never import aiohttp, see ``tests/unit/test_architecture.py``).
"""
