"""All models; importing this package fills ``Base.metadata``."""

from storage.models.audit import AuditEntry, Erasure
from storage.models.base import Base
from storage.models.bulletins import Bulletin, BulletinCallCounter
from storage.models.callouts import Callout, CalloutAttempt, CalloutMember
from storage.models.cases import CallbackAttempt, Case, ContactRequest, QueueEntry
from storage.models.media import ListeningEvent, Recording, VoiceMessage
from storage.models.restrictions import SubjectRestriction
from storage.models.staff import StaffGroup, StaffGroupMember
from storage.models.tenants import ServiceNumber, Tenant
from storage.models.users import User

__all__ = [
    "AuditEntry",
    "Base",
    "Bulletin",
    "BulletinCallCounter",
    "CallbackAttempt",
    "Callout",
    "CalloutAttempt",
    "CalloutMember",
    "Case",
    "ContactRequest",
    "Erasure",
    "ListeningEvent",
    "QueueEntry",
    "Recording",
    "ServiceNumber",
    "StaffGroup",
    "StaffGroupMember",
    "SubjectRestriction",
    "Tenant",
    "User",
    "VoiceMessage",
]
