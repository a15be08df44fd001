"""Telephony building blocks shared by the call flows and the callback dialer.

- :mod:`ivr.telephony.ringing`: dialling legs and taking the first agent who answers;
- :mod:`ivr.telephony.bridging`: bridging two calls until one hangs up, recorded by policy;
- :mod:`ivr.telephony.recorder`: bridge recordings on ARI, turned into rows by
  :mod:`recording.bridge`;
- :mod:`ivr.telephony.numbers`: phone numbers keyed in or written by customers.

Everything here speaks ARI only through the handles of :mod:`ivr.ari`; nothing imports
:mod:`ivr.flows` or :mod:`ivr.callbacks`, which both build on it.
"""
