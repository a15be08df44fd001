"""Does the dialplan route a service number, to the right tenant and flow?

Adding a number to the database does not route calls to it: ops route numbers in
``dialplan/*.conf`` (``exten => <number>,1,Stasis(linja,<flow>,<tenant>)``) and describe
menus in ``dialplan/flows/<tenant>.toml``. :func:`number_warnings` reads those files (no
Asterisk needed; the flow file is checked as ``linja dialplan check`` does) and says, for a
person, what is missing. The caller shows these as warnings:
the number is stored anyway, so ops may route it afterwards.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ivr.flowdefs.dialplanconf import DialplanScan, StasisRoute
from ivr.flowdefs.loader import FLOWS_DIR, check_definitions

log = logging.getLogger(__name__)

MAX_FILE_ERRORS = 3

# The flow a number of each kind needs (storage.models.tenants.SERVICES).
FLOW_OF_SERVICE = {
    "bulletin": "announcement",
    "answering": "menu",
    "callcenter": "menu",
    "taxi": "menu",
}


def routes_of(dialplan_dir: Path, number: str, *, app: str = "linja") -> list[StasisRoute]:
    """The Stasis routes of extension ``number`` in the ``*.conf`` files of ``dialplan_dir``."""
    scan = DialplanScan(app=app)
    for conf in sorted(dialplan_dir.glob("*.conf")):
        try:
            scan.add_file(conf.name, conf.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("cannot read %s: %s", conf, exc)
    return [r for r in scan.routes if r.extension == number]


def number_warnings(
    dialplan_dir: Path, number: str, tenant: str, service: str, *, app: str = "linja"
) -> list[str]:
    """What keeps calls to ``number`` from reaching ``tenant``'s ``service`` (empty: none)."""
    if not dialplan_dir.is_dir():
        return [f"no dialplan directory {dialplan_dir}: cannot check the routing of {number}"]
    routes = routes_of(dialplan_dir, number, app=app)
    flow = FLOW_OF_SERVICE.get(service, "menu")
    example = f"exten => {number},1,Stasis({app},{flow},{tenant})"
    if not routes:
        return [
            f"the dialplan does not route {number}: add `{example}` to {dialplan_dir}/*.conf, "
            "then `linja dialplan reload`"
        ]
    warnings: list[str] = []
    for r in routes:
        where = f"{r.file}:{r.line}"
        if r.tenant != tenant and "$" not in r.tenant:
            warnings.append(f"{where}: the dialplan routes {number} to tenant '{r.tenant}'")
        if r.flow != flow and "$" not in r.flow:
            warnings.append(
                f"{where}: the dialplan sends {number} to the flow '{r.flow}'; "
                f"a {service} number needs '{flow}'"
            )
    flow_file = f"{FLOWS_DIR}/{tenant}.toml"
    if flow == "menu" and not (dialplan_dir / flow_file).is_file():
        warnings.append(
            f"no flow definitions {flow_file} for tenant '{tenant}': "
            f"the menu flow cannot answer {number}"
        )
    elif flow == "menu":
        _, errors = check_definitions(dialplan_dir, app=app)
        mine = [e for e in errors if e.file == flow_file]
        warnings += [f"{e} (`linja dialplan check`)" for e in mine[:MAX_FILE_ERRORS]]
        if len(mine) > MAX_FILE_ERRORS:
            warnings.append(f"{flow_file}: {len(mine) - MAX_FILE_ERRORS} more error(s)")
    return warnings
