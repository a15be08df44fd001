"""Which language a page is in: the browser's choice (cookie :data:`LANGUAGE_COOKIE`, set by
``/language/{code}``), else the tenant's language when the console speaks it, else Finnish."""

from __future__ import annotations

from aiohttp import web

from ivr.console.catalogue import DEFAULT_LANGUAGE, LANGUAGES

LANGUAGE_COOKIE = "linja_lang"


def chosen(request: web.Request) -> str | None:
    """The language this browser chose, if it is one the console speaks."""
    lang = request.cookies.get(LANGUAGE_COOKIE)
    return lang if lang in LANGUAGES else None


def language(request: web.Request, tenant_language: str | None) -> str:
    picked = chosen(request)
    if picked is not None:
        return picked
    if tenant_language in LANGUAGES:
        assert tenant_language is not None
        return tenant_language
    return DEFAULT_LANGUAGE


def remember(response: web.StreamResponse, lang: str, *, secure: bool) -> None:
    response.set_cookie(
        LANGUAGE_COOKIE,
        lang,
        max_age=365 * 24 * 3600,
        path="/",
        secure=secure,
        httponly=True,
        samesite="Strict",
    )
