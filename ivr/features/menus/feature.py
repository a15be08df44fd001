"""The call center's caller side (Automaattinen Call Center): DTMF menus that route to
queues, bulletins, voice messages, callbacks and external numbers; the queue flow with music
on hold, position announcements and agent ringing."""

from __future__ import annotations

from ivr.callcenter.coordinator import QueueCoordinator
from ivr.core import Core, Feature
from ivr.features.recordings.feature import Bridgers
from ivr.flows.adoption import CaseAdoption
from ivr.flows.announcement import AnnouncementFlow
from ivr.flows.callback import CallbackFlow
from ivr.flows.menu import MenuFlow
from ivr.flows.notice import NoticeFlow
from ivr.flows.queue import QueueFlow
from ivr.flows.voicemail import VoicemailFlow
from ivr.heartbeat.identity import controller_id
from storage.repositories.case_takeover import CaseTakeover


async def wire(core: Core) -> Feature:
    notice = core.services.need(NoticeFlow)
    voicemail = core.services.need(VoicemailFlow)
    callback = core.services.need(CallbackFlow)
    queue = QueueFlow(
        core.services.need(QueueCoordinator),
        core.prompts,
        core.cases,
        core.directory,
        core.dispatcher.adopt,
        core.dispatcher.release,
        core.clock,
        bridger=core.services.need(Bridgers).case,
        notice=notice,
        restrictions=core.restrictions,
        callback=callback,
        app=core.settings.ari_app,
    )
    menu = MenuFlow(
        core.definitions,
        core.directory,
        core.prompts,
        queue,
        core.services.need(AnnouncementFlow),
        core.cases,
        core.clock,
        notice=notice,
        voicemail=voicemail,
        callback=callback,
        adoption=CaseAdoption(
            CaseTakeover(core.sessions, controller_id()), core.cases, core.settings.bind
        ),
    )
    return Feature("menus", flows=(menu,))
