"""The console's page areas, in nav order: ``ivr/console/pages/<area>.py`` each, with
``NAV`` (a tuple of :class:`~ivr.console.nav.NavItem`) and ``add_pages(app, deps)``.
Adding an area is that module, its templates and catalogue file, and one line here."""

from __future__ import annotations

import importlib
from types import ModuleType

from aiohttp import web

from ivr.console import errors, render
from ivr.console.catalogue import Catalogue
from ivr.console.deps import PageDeps
from ivr.console.nav import NavItem
from ivr.console.static import Static, load
from ivr.core import Core

AREAS = (
    "home",
    "wallboard",
    "bulletins",
    "cases",
    "work",
    "callouts",
    "agents",
    "people",
    "audit",
    "admin",
)


def areas(names: tuple[str, ...] = AREAS) -> list[ModuleType]:
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def add_console(app: web.Application, core: Core, names: tuple[str, ...] = AREAS) -> PageDeps:
    """The console's pages, static files and HTML error pages on ``app``."""
    modules = areas(names)
    nav: tuple[NavItem, ...] = tuple(item for m in modules for item in m.NAV)
    static = Static(load())
    renderer = render.Renderer(Catalogue.load(), nav, static)
    render.setup(app)
    app.middlewares.append(errors.middleware(renderer))
    static.add_route(app)
    deps = PageDeps(core, renderer)
    for module in modules:
        module.add_pages(app, deps)
    return deps
