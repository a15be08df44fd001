"""All models; importing this package fills ``Base.metadata``."""

from storage.models.audit import AuditEntry, Erasure
from storage.models.base import Base
from storage.models.bulletins import Bulletin, BulletinCallCounter
from storage.models.cases import Case, ContactRequest, QueueEntry
from storage.models.media import ListeningEvent, Recording, VoiceMessage
from storage.models.staff import StaffGroup, StaffGroupMember
from storage.models.tenants import ServiceNumber, Tenant
from storage.models.users import User

__all__ = [
    "AuditEntry",
    "Base",
    "Bulletin",
    "BulletinCallCounter",
    "Case",
    "ContactRequest",
    "Erasure",
    "ListeningEvent",
    "QueueEntry",
    "Recording",
    "ServiceNumber",
    "StaffGroup",
    "StaffGroupMember",
    "Tenant",
    "User",
    "VoiceMessage",
]
