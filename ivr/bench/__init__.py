"""Load benchmarks of the call path (``make bench-calls``, ``bench-soak``, ``bench-faults``).

- :mod:`ivr.bench.sipp`: one SIPp caller load and what it measured;
- :mod:`ivr.bench.procstat`: CPU and RSS of a process from ``/proc``;
- :mod:`ivr.bench.rig`: the bench numbers, audio, dialplan and controller process;
- :mod:`ivr.bench.trial`: one burst against one path, with its figures;
- :mod:`ivr.bench.rtp`: callers who heard silence (an RTP listener matched to SIPp's calls);
- :mod:`ivr.bench.calls`, :mod:`ivr.bench.soak`, :mod:`ivr.bench.faults`: the commands.

Everything runs on loopback against the developer's own stack, bounded in calls and time.
"""
