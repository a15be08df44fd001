"""The browser console: server-rendered pages on the controller's aiohttp app.

Layout (see README, *Console*):

- ``pages/<area>.py``: one module per page area, with ``NAV`` (its nav entries) and
  ``add_pages(app, deps)``; listed once in :data:`ivr.console.pages.AREAS`;
- ``templates/<area>/``: the area's Jinja2 templates, extending ``base.html``;
- ``catalogue/<area>.py``: the area's UI texts in Finnish and English (found by name);
- ``static/``: our own CSS and JavaScript, served as ``/static/<name>`` (no build step).

Pages are guarded by the API's guard (:mod:`ivr.http.guard`); its refusals become HTML pages
(:mod:`ivr.console.errors`). Every change a page offers is a form whose JavaScript sends JSON
to the same API the CLI's operations sit behind (``static/console.js``), with the session's
CSRF token; field errors of the problem+json answer are shown beside the fields.
"""
