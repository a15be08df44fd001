"""Contact requests by SMS, e-mail, chat and web form (the taxi call center): the intake
webhooks with per-tenant bearer tokens, and the agents' claim/complete API."""

from __future__ import annotations

from ivr.core import Core, Feature
from ivr.http.contacts import ContactDeps, add_routes, numbers_from, queues_from
from storage.repositories.contact_requests import ContactRequestRepository
from storage.repositories.intake_tokens import IntakeTokenRepository


async def wire(core: Core) -> Feature:
    deps = ContactDeps(
        requests=ContactRequestRepository(core.sessions),
        clock=core.clock,
        intake_tokens=IntakeTokenRepository(core.sessions),
        queues_of=queues_from(core.definitions),
        numbers_of=numbers_from(core.definitions),
    )
    return Feature("contacts", routes=(lambda app: add_routes(app, deps, core.guard),))
