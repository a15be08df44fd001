"""The management plane's domain: tenants, service numbers and users, shared by the CLI
(``linja tenant|number|user``) and the API (``/api/tenants``, ``/api/numbers``,
``/api/users``).

- :mod:`ivr.admin.durations`: retention durations (``90d``, ``3m``, ``1y``);
- :mod:`ivr.admin.validation`: the one set of field rules (every bad field at once);
- :mod:`ivr.admin.routing`: whether the dialplan and flow files route a service number;
- :mod:`ivr.admin.operations`: the changes themselves, audited with who made them.
"""
