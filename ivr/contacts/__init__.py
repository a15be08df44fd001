"""Contact requests from written channels (SMS, e-mail, chat, web form): payload validation.
Pure: no I/O here; the HTTP edge is :mod:`ivr.http.contacts`, the gateways' intake tokens are
stored by :mod:`storage.repositories.intake_tokens`."""
