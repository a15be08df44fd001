"""All models; importing this package fills ``Base.metadata``."""

from storage.models.base import Base
from storage.models.bulletins import Bulletin, BulletinCallCounter
from storage.models.tenants import ServiceNumber, Tenant

__all__ = ["Base", "Bulletin", "BulletinCallCounter", "ServiceNumber", "Tenant"]
