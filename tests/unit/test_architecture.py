"""Import rules of the project, checked by walking the source with ``ast`` (nothing imported).

The rules (DESIGN.md, section 5):

- only ``ivr/ari/`` speaks ARI: no other module holds an ARI resource path;
- ``storage/`` and ``recording/`` never import ``ivr`` (settings and handles are passed in);
- no import cycle between packages (``ivr``'s subpackages and the top-level packages);
- no module under ``ivr/flows`` reaches SQLAlchemy or aiohttp, neither directly nor through
  the project modules it imports (transitively, parent packages' ``__init__`` included,
  since importing ``a.b`` runs ``a/__init__.py``). Stricter than "no direct import": a flow
  that gets a repository must get it through a protocol, not by importing its module.

Each checker is a pure function over a :class:`Tree`, tested on a small synthetic tree below
so the rules are known to be able to fail.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ivr", "dialplan", "recording", "storage", "retention")

ARI_RESOURCES = (
    "channels",
    "bridges",
    "recordings",
    "playbacks",
    "applications",
    "endpoints",
    "asterisk",
    "sounds",
    "events",
    "deviceStates",
    "mailboxes",
)
ARI_PATH = re.compile(r"^/(?:" + "|".join(ARI_RESOURCES) + r")(?:[/?]|$)")
ARI_PACKAGE = "ivr.ari"
NO_IVR = ("storage", "recording")
FLOWS = "ivr.flows"
FLOW_FORBIDDEN = ("sqlalchemy", "aiohttp")


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    imports: set[str] = field(default_factory=set)  # absolute dotted names, as written
    ari_paths: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Tree:
    modules: dict[str, Module]

    def project_imports(self, module: Module) -> set[str]:
        """The project modules ``module`` imports (``from a import b``: ``a.b`` if a module)."""
        out: set[str] = set()
        for name in module.imports:
            target = self.resolve(name)
            if target is not None:
                out.add(target)
        return out

    def resolve(self, name: str) -> str | None:
        """The longest project module prefix of ``name`` (None: not in the project)."""
        parts = name.split(".")
        while parts:
            candidate = ".".join(parts)
            if candidate in self.modules:
                return candidate
            parts.pop()
        return None


def _module_name(root: Path, path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            found.update(
                prefix if alias.name == "*" else f"{prefix}.{alias.name}" for alias in node.names
            )
    return found


def _ari_paths(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants and f-strings that start with an ARI resource path."""
    inside_fstrings: set[int] = set()
    hits: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside_fstrings.update(id(v) for v in node.values)
            first = node.values[0] if node.values else None
            if (
                isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and ARI_PATH.match(first.value)
            ):
                hits.append((node.lineno, first.value))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in inside_fstrings
            and ARI_PATH.match(node.value)
        ):
            hits.append((node.lineno, node.value))
    return sorted(hits)


def load_tree(root: Path, packages: Iterable[str] = PACKAGES) -> Tree:
    modules: dict[str, Module] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            name, is_package = _module_name(root, path)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            module = Module(name, path, is_package)
            module.imports = _imports(tree, name, is_package)
            module.ari_paths = _ari_paths(tree)
            modules[name] = module
    return Tree(modules)


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def package_of(name: str) -> str:
    """The unit of the cycle rule: ``ivr.<sub>`` inside ivr, else the top-level package."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "ivr" and len(parts) > 1 else parts[0]


# -- the rules -----------------------------------------------------------------------------


def ari_paths_outside_ari(tree: Tree) -> list[str]:
    return [
        f"{m.name}:{line}: {text!r}"
        for m in tree.modules.values()
        if not _within(m.name, ARI_PACKAGE)
        for line, text in m.ari_paths
    ]


def ivr_imports_from_lower_layers(tree: Tree) -> list[str]:
    return sorted(
        f"{m.name} imports {name}"
        for m in tree.modules.values()
        if any(_within(m.name, p) for p in NO_IVR)
        for name in m.imports
        if _within(name, "ivr")
    )


def package_graph(tree: Tree) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {package_of(name): set() for name in tree.modules}
    for module in tree.modules.values():
        source = package_of(module.name)
        for target in tree.project_imports(module):
            if package_of(target) != source:
                graph[source].add(package_of(target))
    return graph


def _strongly_connected(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    """Tarjan's algorithm (iterative), components of more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    yield sorted(component)


def _edges_within(tree: Tree, component: list[str]) -> list[str]:
    members = set(component)
    edges: set[str] = set()
    for module in tree.modules.values():
        source = package_of(module.name)
        if source not in members:
            continue
        for target in tree.project_imports(module):
            if package_of(target) in members and package_of(target) != source:
                edges.add(f"{module.name} -> {target}")
    return sorted(edges)


def package_cycles(tree: Tree) -> list[str]:
    return [
        " <-> ".join(component) + ": " + "; ".join(_edges_within(tree, component))
        for component in _strongly_connected(package_graph(tree))
    ]


def _with_parents(tree: Tree, name: str) -> Iterator[str]:
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        candidate = ".".join(parts[:i])
        if candidate in tree.modules:
            yield candidate


def forbidden_in_flows(tree: Tree) -> list[str]:
    """Each flow module that reaches sqlalchemy/aiohttp, with the chain that gets there."""
    problems: list[str] = []
    for start in sorted(n for n in tree.modules if _within(n, FLOWS)):
        chain: dict[str, str | None] = {start: None}
        todo = [start]
        while todo:
            current = todo.pop()
            module = tree.modules[current]
            bad = sorted(
                {i.split(".")[0] for i in module.imports} & set(FLOW_FORBIDDEN),
            )
            if bad:
                path = [current]
                while (prev := chain[path[-1]]) is not None:
                    path.append(prev)
                via = " <- ".join(path)
                problems.append(f"{start} reaches {', '.join(bad)} (in {via})")
                break
            for imported in sorted(tree.project_imports(module)):
                for target in _with_parents(tree, imported):
                    if target not in chain:
                        chain[target] = current
                        todo.append(target)
    return problems


# -- the project --------------------------------------------------------------------------

PROJECT = load_tree(ROOT)


def test_the_walk_sees_the_project() -> None:
    assert {"ivr.ari.call", "ivr.flows.queue", "storage.db", "recording.bridge"} <= set(
        PROJECT.modules
    )
    assert "ivr.ari.call" in PROJECT.project_imports(PROJECT.modules["ivr.flows.queue"])


def test_only_ivr_ari_builds_ari_paths() -> None:
    assert ari_paths_outside_ari(PROJECT) == []


def test_storage_and_recording_do_not_import_ivr() -> None:
    assert ivr_imports_from_lower_layers(PROJECT) == []


def test_no_import_cycle_between_packages() -> None:
    assert package_cycles(PROJECT) == []


def test_flows_reach_neither_sqlalchemy_nor_aiohttp() -> None:
    assert forbidden_in_flows(PROJECT) == []


# -- the checkers can fail ----------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Tree:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return load_tree(root)


CLEAN = {
    "ivr/__init__.py": "",
    "ivr/ari/__init__.py": "",
    "ivr/ari/call.py": 'P = "/channels"\ndef f(c): return f"/bridges/{c}/addChannel"\n',
    "ivr/flows/__init__.py": "",
    "ivr/flows/menu.py": "from ivr.ari.call import P\nfrom storage import events\n",
    "ivr/http/__init__.py": "",
    "ivr/http/routes.py": 'import aiohttp\nR = "/api/recordings/live"\nS = f"/api/calls/{1}"\n',
    "storage/__init__.py": "",
    "storage/events.py": "import dataclasses\n",
    "storage/db.py": "import sqlalchemy\n",
    "recording/__init__.py": "",
    "recording/bridge.py": "from storage.events import dataclasses\n",
}


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    tree = _write(tmp_path, CLEAN)
    assert ari_paths_outside_ari(tree) == []
    assert ivr_imports_from_lower_layers(tree) == []
    assert package_cycles(tree) == []
    assert forbidden_in_flows(tree) == []


def test_ari_paths_outside_ivr_ari_are_found(tmp_path: Path) -> None:
    tree = _write(
        tmp_path,
        CLEAN
        | {
            "ivr/flows/queue.py": 'def moh(c):\n    return f"/channels/{c}/moh"\n',
            "recording/bridge.py": 'A = "/recordings/live/x/stop"\nB = "/bridges"\n',
            "ivr/http/ok.py": 'X = "/api/bridges"\nY = "channels/x"\nZ = "/eventsfoo"\n',
        },
    )
    assert ari_paths_outside_ari(tree) == [
        "ivr.flows.queue:2: '/channels/'",
        "recording.bridge:1: '/recordings/live/x/stop'",
        "recording.bridge:2: '/bridges'",
    ]


def test_ivr_imports_in_storage_or_recording_are_found(tmp_path: Path) -> None:
    tree = _write(
        tmp_path,
        CLEAN
        | {
            "ivr/config.py": "",
            "storage/db.py": "def f():\n    from ivr.config import Settings\n",
            "recording/bridge.py": "import ivr.ari.call\n",
        },
    )
    assert ivr_imports_from_lower_layers(tree) == [
        "recording.bridge imports ivr.ari.call",
        "storage.db imports ivr.config.Settings",
    ]


def test_package_cycles_are_found_with_their_edges(tmp_path: Path) -> None:
    tree = _write(
        tmp_path,
        CLEAN
        | {
            "ivr/callbacks/__init__.py": "",
            "ivr/callbacks/dialer.py": "from ivr.flows import menu\n",
            "ivr/flows/callback.py": "from ..callbacks.dialer import x\n",
        },
    )
    assert package_cycles(tree) == [
        "ivr.callbacks <-> ivr.flows: "
        "ivr.callbacks.dialer -> ivr.flows.menu; ivr.flows.callback -> ivr.callbacks.dialer"
    ]


def test_flows_reaching_forbidden_libraries_are_found(tmp_path: Path) -> None:
    tree = _write(
        tmp_path,
        CLEAN
        | {
            "ivr/flows/direct.py": "import aiohttp.web\n",
            "ivr/flows/indirect.py": "from storage.repositories import cases\n",
            "storage/repositories/__init__.py": "",
            "storage/repositories/cases.py": "from storage import db\n",
        },
    )
    assert forbidden_in_flows(tree) == [
        "ivr.flows.direct reaches aiohttp (in ivr.flows.direct)",
        "ivr.flows.indirect reaches sqlalchemy "
        "(in storage.db <- storage.repositories.cases <- ivr.flows.indirect)",
    ]
