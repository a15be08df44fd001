"""Load and validate a dialplan directory: the Asterisk ``*.conf`` files and the tenants'
``flows/*.toml`` together, since each refers to the other (routes name tenants and entry
menus; menus are reachable from routes).

``load_definitions(dir)`` returns every tenant's ``TenantFlows`` or raises
``DefinitionErrors`` with all findings, sorted by file and line. Nothing is half-loaded: a
caller keeps its previous definitions when this raises.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

from ivr.flowdefs.dialplanconf import FLOWS, DialplanScan
from ivr.flowdefs.errors import DefinitionError, DefinitionErrors
from ivr.flowdefs.flowfile import ParsedFile, parse_flow_file, unreachable_menus
from ivr.flowdefs.model import CALLBACK_ENTRY, TenantFlows

log = logging.getLogger(__name__)

FLOWS_DIR = "flows"


def check_definitions(
    dialplan_dir: Path, *, app: str = "linja"
) -> tuple[dict[str, TenantFlows], list[DefinitionError]]:
    """All tenants' definitions and every error found; the definitions are only complete
    when the error list is empty. ``app`` is the Stasis application of the controller."""
    if not dialplan_dir.is_dir():
        raise NotADirectoryError(f"{dialplan_dir}: not a directory")
    errors: list[DefinitionError] = []

    scan = DialplanScan(app=app)
    for conf in sorted(dialplan_dir.glob("*.conf")):
        rel = conf.relative_to(dialplan_dir).as_posix()
        try:
            text = conf.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(DefinitionError(rel, 1, f"cannot read: {exc}"))
            continue
        scan.add_file(rel, text)
    errors += scan.errors

    parsed: dict[str, ParsedFile] = {}
    for path in sorted((dialplan_dir / FLOWS_DIR).glob("*.toml")):
        result = parse_flow_file(path, path.relative_to(dialplan_dir).as_posix())
        parsed[result.tenant] = result
        errors += result.errors

    entries: dict[str, set[str]] = defaultdict(set)
    for route in scan.routes:
        if "$" in route.tenant:
            continue
        needs = FLOWS[route.flow].needs_definitions
        if needs and route.tenant not in parsed:
            errors.append(
                DefinitionError(
                    route.file,
                    route.line,
                    f"{route.call}: unknown tenant '{route.tenant}' "
                    f"(no {FLOWS_DIR}/{route.tenant}.toml)",
                )
            )
            continue
        flows = parsed[route.tenant].draft if route.tenant in parsed else None
        if route.menu is None or "$" in route.menu or flows is None:
            continue
        if route.menu.startswith(CALLBACK_ENTRY):
            # Stasis(linja,menu,<tenant>,callback:<queue>): straight to a callback request
            # (the dialplan's busy prompt, while the controller sheds load).
            queue = route.menu.removeprefix(CALLBACK_ENTRY)
            if queue not in flows.queues:
                errors.append(
                    DefinitionError(
                        route.file,
                        route.line,
                        f"{route.call}: tenant '{route.tenant}' has no queue '{queue}'",
                    )
                )
            continue
        if route.menu not in flows.menus:
            errors.append(
                DefinitionError(
                    route.file,
                    route.line,
                    f"{route.call}: tenant '{route.tenant}' has no menu '{route.menu}'",
                )
            )
        else:
            entries[route.tenant].add(route.menu)

    out: dict[str, TenantFlows] = {}
    for tenant, result in parsed.items():
        draft = result.draft
        if draft is None or draft.entry not in draft.menus:
            continue
        for menu in unreachable_menus(draft, entries[tenant]):
            errors.append(
                DefinitionError(
                    result.rel,
                    result.menu_lines.get(menu, 1),
                    f"menu '{menu}' is unreachable (not reached from the entry menu "
                    f"'{draft.entry}' or a Stasis({app},menu,{tenant},<menu>) route)",
                )
            )
        if result.flows is not None:
            out[tenant] = result.flows
    return out, sorted(errors)


def load_definitions(dialplan_dir: Path, *, app: str = "linja") -> dict[str, TenantFlows]:
    """Every tenant's validated definitions, or ``DefinitionErrors`` with all findings."""
    flows, errors = check_definitions(dialplan_dir, app=app)
    if errors:
        log.warning("%s: %d definition error(s); nothing loaded", dialplan_dir, len(errors))
        raise DefinitionErrors(errors)
    log.info("%s: loaded flow definitions of %d tenant(s)", dialplan_dir, len(flows))
    return flows
