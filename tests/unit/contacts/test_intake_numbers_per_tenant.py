"""Intake checks a phone number against the tenant's own ``[callbacks]`` list, as the
callback capture and the dialer do (issue 17, item 8)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ivr.contacts.intake import InvalidSubmission, validate
from ivr.flowdefs.model import CallbackNumbers
from ivr.http.contacts import numbers_from
from storage.events import Channel
from tests.unit.flows.support_recording import tenant_flows
from tests.unit.wiring import Definitions

SWEDISH = "+46 70 123 45 67"


def test_intake_uses_the_tenants_own_number_list(tmp_path: Path) -> None:
    flows = replace(
        tenant_flows(tmp_path), callbacks=CallbackNumbers(allowed_countries=("FI", "SE"))
    )
    numbers = numbers_from(Definitions(flows))
    sms = {"phone": SWEDISH, "message": "Taksi Arlandaan"}
    accepted = validate(Channel.SMS, sms, numbers=numbers(flows.tenant))
    assert accepted.phone == "+46701234567"
    # A tenant without definitions gets the default list: Finnish numbers only.
    with pytest.raises(InvalidSubmission) as refused:
        validate(Channel.SMS, sms, numbers=numbers("another-tenant"))
    assert "phone" in refused.value.errors
