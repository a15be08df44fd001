"""All models; importing this package fills ``Base.metadata``."""

from storage.models.access import IntakeToken, PhoneLoginLock
from storage.models.agents import AgentStateRow
from storage.models.audit import AuditEntry, Erasure
from storage.models.base import Base
from storage.models.bulletins import Bulletin, BulletinCallCounter, BulletinCounterBatch
from storage.models.callouts import Callout, CalloutAttempt, CalloutMember
from storage.models.cases import CallbackAttempt, Case, CaseStep, ContactRequest, QueueEntry
from storage.models.controllers import ControllerRow
from storage.models.logins import ApiToken, WebSession
from storage.models.media import ListeningEvent, Recording, VoiceMessage
from storage.models.queues import QueueDepartureRow, QueueRingRow, QueueWaitingRow
from storage.models.restrictions import SubjectRestriction
from storage.models.staff import StaffGroup, StaffGroupMember
from storage.models.tenants import ServiceNumber, Tenant
from storage.models.transcripts import Transcript, TranscriptionJob
from storage.models.users import User

__all__ = [
    "AgentStateRow",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Bulletin",
    "BulletinCallCounter",
    "BulletinCounterBatch",
    "CallbackAttempt",
    "Callout",
    "CalloutAttempt",
    "CalloutMember",
    "Case",
    "CaseStep",
    "ContactRequest",
    "ControllerRow",
    "Erasure",
    "IntakeToken",
    "ListeningEvent",
    "PhoneLoginLock",
    "QueueDepartureRow",
    "QueueEntry",
    "QueueRingRow",
    "QueueWaitingRow",
    "Recording",
    "ServiceNumber",
    "StaffGroup",
    "StaffGroupMember",
    "SubjectRestriction",
    "Tenant",
    "Transcript",
    "TranscriptionJob",
    "User",
    "VoiceMessage",
    "WebSession",
]
