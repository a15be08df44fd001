"""Declarative per-tenant flow definitions (menus, queues, prompts, business hours).

    load_definitions(dialplan_dir) -> dict[str, TenantFlows]   or raises DefinitionErrors
    check_definitions(dialplan_dir) -> (definitions, [DefinitionError, ...])
    is_open(hours, at) -> bool
    read_snapshot / write_snapshot   the last validated definitions as JSON

Modules: ``model`` (the output dataclasses), ``loader`` (a whole dialplan directory),
``flowfile`` (one tenant's TOML), ``dialplanconf`` (the Asterisk .conf files),
``tomlindex`` (line numbers for TOML keys), ``hours``, ``snapshot``, ``errors``.
"""

from ivr.flowdefs.errors import DefinitionError, DefinitionErrors
from ivr.flowdefs.hours import is_open
from ivr.flowdefs.loader import check_definitions, load_definitions
from ivr.flowdefs.snapshot import read_snapshot, write_snapshot

__all__ = [
    "DefinitionError",
    "DefinitionErrors",
    "check_definitions",
    "is_open",
    "load_definitions",
    "read_snapshot",
    "write_snapshot",
]
