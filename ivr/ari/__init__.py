"""Linja's own thin ARI layer; the only package that builds ARI paths.

- :mod:`ivr.ari.client`: ``AriClient``, REST over aiohttp (:class:`ivr.ari.protocol.AriRest`);
- :mod:`ivr.ari.events`: ``EventStream``, the ``/ari/events`` websocket with reconnect;
- :mod:`ivr.ari.dispatcher`: ``Dispatcher``, one task and one :class:`~ivr.ari.call.Call` per
  channel;
- handles: :mod:`ivr.ari.call` (``Call``: playback, DTMF, recording, music on hold),
  :mod:`ivr.ari.bridge` (``Bridge``), :mod:`ivr.ari.recordings` (``LiveRecording``),
  :mod:`ivr.ari.originate` (``Originate``: a new leg);
- :mod:`ivr.ari.errors`: the exception tree.

Nothing is re-exported here: importing a handle must not import aiohttp (the call flows
use the handles and never import aiohttp, see ``tests/unit/test_architecture.py``).
"""
