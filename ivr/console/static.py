"""``GET /static/{name}``: the console's own CSS, JavaScript and images from ``static/``.

Every file in the folder is served under its name (read once at start: they are small);
nothing else is. A page links a file through ``static(name)`` in its template, which adds
the file's content hash, so a changed file is fetched anew while an unchanged one is cached.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,80}$")


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    version: str


def load(folder: Path = STATIC_DIR) -> dict[str, Asset]:
    assets = {}
    for path in sorted(folder.iterdir()):
        kind = TYPES.get(path.suffix)
        if path.is_file() and kind is not None and _NAME.fullmatch(path.name):
            body = path.read_bytes()
            assets[path.name] = Asset(body, kind, hashlib.sha256(body).hexdigest()[:12])
    return assets


class Static:
    def __init__(self, assets: dict[str, Asset]) -> None:
        self._assets = assets

    def url(self, name: str) -> str:
        asset = self._assets.get(name)
        if asset is None:
            raise KeyError(f"no static file {name!r} in ivr/console/static")
        return f"/static/{name}?v={asset.version}"

    async def serve(self, request: web.Request) -> web.StreamResponse:
        asset = self._assets.get(request.match_info["name"])
        if asset is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=asset.body,
            content_type=asset.content_type,
            charset="utf-8" if asset.content_type.startswith("text/") else None,
            headers={
                "Cache-Control": "public, max-age=86400",
                "X-Content-Type-Options": "nosniff",
            },
        )

    def add_route(self, app: web.Application) -> None:
        app.router.add_get("/static/{name}", self.serve)
