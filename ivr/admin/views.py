"""The JSON shapes of tenants, service numbers and users: the API's bodies and the CLI's
``--json`` output are the same. No secret is ever part of one (users show whether they have
a phone PIN, never a hash)."""

from __future__ import annotations

from typing import Any

from ivr.admin.durations import format_duration
from storage.domain import ServiceNumberInfo, TenantInfo, UserInfo


def tenant_view(t: TenantInfo) -> dict[str, Any]:
    return {
        "id": str(t.id),
        "slug": t.slug,
        "name": t.name,
        "language": t.language,
        "time_zone": t.time_zone,
        "recording_retention": format_duration(t.recording_retention),
        "voice_message_retention": format_duration(t.voicemail_retention),
        "case_retention": format_duration(t.case_retention),
        "transcripts": t.transcripts_enabled,
        "transcript_retention": format_duration(t.transcript_retention),
    }


def number_view(n: ServiceNumberInfo, tenant: str | None) -> dict[str, Any]:
    return {
        "id": str(n.id),
        "number": n.number,
        "tenant": tenant,
        "service": n.service,
        "description": n.description,
    }


def user_view(u: UserInfo, tenant: str | None) -> dict[str, Any]:
    return {
        "id": str(u.id),
        "login": u.login,
        "name": u.name,
        "role": u.role.value,
        "tenant": tenant,
        "email": u.email,
        "phone_number": u.phone_number,
        "phone_login": u.phone_login,
        "has_phone_pin": u.has_phone_pin,
        "active": u.active,
        "created_at": u.created_at.isoformat(),
        "disabled_at": None if u.disabled_at is None else u.disabled_at.isoformat(),
    }
