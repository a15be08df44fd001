"""Processing restrictions (a data subject's right, `linja subject restrict`) as the call flows
see them: a restricted number is never recorded, never left a voice message and never dialled.

The flows differ only in what they do when the check itself cannot be made (Postgres down):
a conversation is then not recorded (recording is optional to the service), while a voice
message or callback request is still taken (it is the service; nothing may be lost), and the
dialer checks again before it dials.
"""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

from storage.errors import StorageError

log = logging.getLogger(__name__)


class Restrictions(Protocol):
    async def is_restricted(
        self, tenant_id: uuid.UUID, *, number: str | None = None, email: str | None = None
    ) -> bool: ...


async def number_restricted(
    restrictions: Restrictions,
    tenant_id: uuid.UUID,
    number: str | None,
    *,
    cid: str,
    when_unknown: bool,
) -> bool:
    """Whether ``number`` is restricted; ``when_unknown`` if that cannot be told. No number
    (an anonymous caller) is never restricted."""
    if not number:
        return False
    try:
        return await restrictions.is_restricted(tenant_id, number=number)
    except StorageError as exc:
        log.error(
            "[%s] cannot check restrictions (%s); going on as if %s",
            cid,
            exc,
            "restricted" if when_unknown else "not restricted",
        )
        return when_unknown
