"""The call-center queue engine: agents, queues, offers, estimated wait.

``agents`` (agent state machine), ``estimator`` (estimated wait), ``engine`` (the pure queue
engine) and ``coordinator`` (the asyncio layer call flows await). See each module's docstring.
"""
