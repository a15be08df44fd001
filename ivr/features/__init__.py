"""The controller's features, one folder each (``<name>/feature.py`` with ``wire(core)``,
optionally ``<name>/cli.py`` with ``register(subparsers)``), listed in
``ivr.feature_names.FEATURES``.

Only ``ivr.app`` and ``ivr.cli`` reach these (by name); a feature imports the core, the shared
edge (``ivr.http``, ``ivr.flows.router``) and the domain packages, never the other way round.
"""
