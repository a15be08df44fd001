"""Contact requests from written channels (SMS, e-mail, chat, web form): payload validation
and the gateways' intake tokens. Pure: no I/O here; the HTTP edge is :mod:`ivr.http.contacts`."""
