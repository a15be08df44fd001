"""The console's cases, reports, work lists and recordings pages in a real Chromium, on
cases seeded through the case recorder (the way the controller writes them) in a queue of
this module's own: search and the timeline, the abandoned list, the report with its CSV,
claim and complete of a contact request, a recording played in the browser with its
listening event, a transcript (a row seeded directly) shown after its listening event and
refused to an ``external`` user, bad filters and form fields shown beside the field, and the
403 page for an ``external`` user."""

from __future__ import annotations

import csv
import io
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from recording.store import AudioStore
from storage.casewriter import PgCaseWriter
from storage.db import make_engine, session_factory
from storage.events import (
    CaseEnded,
    CaseOpened,
    CaseQueued,
    Channel,
    Outcome,
    QueueExit,
    QueueLeft,
    Role,
    ServiceStarted,
)
from storage.recorder import CaseRecorder
from storage.repositories.contact_requests import ContactRequestRepository
from storage.repositories.tenants import TenantRepository
from storage.spool import Spool
from tests.integration.browser.conftest import Console, PageAs, Shot, run_async
from tests.integration.test_listening import seed_audio
from tests.support import run_sipp, wait_for, write_tone

pytestmark = pytest.mark.integration

HKI = ZoneInfo("Europe/Helsinki")  # the demo tenant's zone


@dataclass(frozen=True)
class Seeded:
    queue: str
    number: str
    answered: uuid.UUID
    abandoned: uuid.UUID
    audio_case: uuid.UUID
    recording: uuid.UUID
    request: uuid.UUID
    agent: str


@dataclass(frozen=True)
class Logins:
    admin: str
    team: str
    external: str


@pytest.fixture(scope="module")
def logins(console: Console) -> Logins:
    """One user per role for the module (each new user costs an argon2 hash)."""
    return Logins(*(console.user(r) for r in (Role.ADMIN, Role.TEAM, Role.EXTERNAL)))


@pytest.fixture(scope="module")
def seeded(console: Console, logins: Logins, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    tmp = tmp_path_factory.mktemp("seed")
    queue = f"pages-{secrets.token_hex(3)}"
    number = "29" + "".join(secrets.choice("0123456789") for _ in range(6))
    agent = logins.team
    (agent_row,) = console.fetch("SELECT id FROM users WHERE login = $1", agent)
    answered, abandoned = uuid.uuid4(), uuid.uuid4()
    t0 = datetime.now(UTC) - timedelta(hours=1)

    async def seed() -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
        engine = make_engine(console.settings, owner=True, pool_size=2)
        try:
            tenant = await TenantRepository(session_factory(engine)).by_slug("demo")
            recorder = CaseRecorder(PgCaseWriter(engine), Spool(tmp / "spool", 10**7))
            await recorder.start()
            for case_id, at in ((answered, t0), (abandoned, t0 + timedelta(minutes=5))):
                recorder.emit(CaseOpened(case_id, tenant.id, Channel.PHONE, at, number,
                                         caller_number="+358401234567"))  # fmt: skip
                recorder.emit(CaseQueued(case_id, queue, at + timedelta(seconds=3)))
            recorder.emit(ServiceStarted(answered, t0 + timedelta(seconds=7), agent_row["id"]))
            recorder.emit(CaseEnded(answered, Outcome.ANSWERED, t0 + timedelta(seconds=67)))
            left = t0 + timedelta(minutes=5, seconds=15)
            recorder.emit(QueueLeft(abandoned, left, QueueExit.ABANDONED))
            recorder.emit(CaseEnded(abandoned, Outcome.ABANDONED, left))
            await recorder.close()
            assert recorder.stats().rejected == 0
            audio_case, rec_id, _, _ = await seed_audio(
                engine, AudioStore(console.settings.audio_store_dir), tmp, tenant.id
            )
            submitted = await ContactRequestRepository(session_factory(engine)).submit(
                tenant_id=tenant.id, channel=Channel.SMS, at=datetime.now(UTC),
                number="+358401112223", message="Sähköt poikki", queue=queue,
            )  # fmt: skip
            return audio_case, rec_id, submitted.request.id
        finally:
            await engine.dispose()

    audio_case, recording, request = run_async(seed)
    return Seeded(queue, number, answered, abandoned, audio_case, recording, request, agent)


def test_cases_search_timeline_abandoned_list_and_report(
    console: Console, page_as: PageAs, shot: Shot, seeded: Seeded, logins: Logins
) -> None:
    page = page_as(logins.admin)
    page.goto(f"/cases?queue={seeded.queue}")
    rows = page.locator("[data-testid=cases] tbody tr")
    expect(rows).to_have_count(2)
    shot(page, "cases")
    # a bad filter: the error beside the field, status 400, nothing searched
    page.locator("#f-search-from").fill("2026-12-02T10:00")
    page.locator("#f-search-to").fill("2026-12-01T10:00")
    with page.expect_response(re.compile(r"/cases\?")) as reply:
        page.get_by_role("button", name="Hae").click()
    assert reply.value.status == 400
    expect(page.locator("#e-search-to")).to_have_text("must be after from")
    expect(page.locator("#f-search-to")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("[data-testid=cases]")).to_have_count(0)
    # the answered case's timeline
    page.goto(f"/cases?queue={seeded.queue}&outcome=answered")
    page.locator(f"tr[data-case='{seeded.answered}'] a").click()
    steps = page.locator("[data-testid=timeline] li")
    expect(steps).to_have_count(5)
    kinds = [s.get_attribute("data-step") for s in steps.all()]
    assert kinds == ["entered", "queued", "left", "answered", "ended"]
    expect(steps.nth(2)).to_contain_text("served · 4.0 s")  # queued 3 s in, answered at 7 s
    expect(steps.nth(3)).to_contain_text("7.0 s")  # the delay before service
    expect(page.locator("[data-testid=outcome]")).to_have_text("answered")
    shot(page, "case")
    # the abandoned calls, with their wait
    page.goto(f"/cases/abandoned?queue={seeded.queue}")
    expect(page.locator("[data-testid=abandoned] tbody tr")).to_have_count(1)
    expect(page.locator("[data-testid=wait]")).to_have_text("12.0 s")
    shot(page, "abandoned")
    # the daily report, its chart and CSV
    page.goto(f"/reports?queue={seeded.queue}")
    row = page.locator(f"[data-testid=report] tr[data-queue='{seeded.queue}']")
    expect(row).to_have_count(1)  # the seeds are an hour old: one day
    expect(row.locator("[data-testid=offered]")).to_have_text("2")
    expect(row.locator("[data-testid=answered]")).to_have_text("1")
    expect(row.locator("[data-testid=abandoned]")).to_have_text("1")
    expect(row.locator("[data-testid=threshold]")).to_have_text("20.0 s")  # not in a flow file
    expect(page.locator("[data-testid=chart] rect")).to_have_count(2)
    shot(page, "report")
    with page.expect_download() as download:
        page.locator("[data-testid=csv]").click()
    (line,) = csv.DictReader(io.StringIO(Path(download.value.path()).read_text()))
    assert (line["queue"], line["offered"], line["answered"], line["abandoned"]) == (
        seeded.queue, "2", "1", "1"
    )  # fmt: skip
    # answered in 4 s of 2 counted (the 12 s abandon is not short); waits (4 + 12) / 2
    assert line["service_level"] == "50.0" and line["average_wait"] == "8.0"
    assert line["threshold"] == "20.0"
    # a threshold in the query is for every queue: the 4 s answer is late for 3 s
    page.goto(f"/reports?queue={seeded.queue}&threshold=3")
    expect(row.locator("[data-testid=threshold]")).to_have_text("3.0 s")
    expect(row.locator("td").nth(6)).to_have_text("0.0 %")
    page.locator("#f-report-threshold").fill("0")
    page.get_by_role("button", name="Näytä").click()
    expect(page.locator("#e-report-threshold")).to_have_text("whole seconds from 1 to 3600")
    expect(page.locator("[data-testid=report]")).to_have_count(0)


def test_a_contact_request_is_claimed_and_completed_from_the_work_list(
    console: Console, page_as: PageAs, shot: Shot, seeded: Seeded, logins: Logins
) -> None:
    page = page_as(logins.team)
    page.goto("/work?list=contacts")
    row = page.locator(f"tr[data-request='{seeded.request}']")
    expect(row.locator("[data-testid=status]")).to_have_text("avoin")
    shot(page, "work")
    # bad input: an unknown channel, shown beside the field; nothing claimed
    page.locator("#f-claim-channel").evaluate(
        "el => { el.add(new Option('fax', 'fax')); el.value = 'fax'; }"
    )
    page.get_by_role("button", name="Ota vanhin").click()
    expect(page.locator("#e-claim-channel")).to_contain_text("unknown channel")
    status_sql = "SELECT status FROM contact_requests WHERE id = $1"
    assert console.fetch(status_sql, seeded.request)[0]["status"] == "open"
    page.locator("#f-claim-channel").select_option("sms")
    page.locator("#f-claim-queue").fill(seeded.queue)
    page.get_by_role("button", name="Ota vanhin").click()
    expect(row.locator("[data-testid=status]")).to_have_text("käsittelyssä")
    row.get_by_role("button", name="Merkitse hoidetuksi").click()
    expect(row).to_have_count(0)
    assert console.fetch(status_sql, seeded.request)[0]["status"] == "done"
    audited = console.fetch(
        "SELECT action FROM audit_log WHERE target_id = $1 ORDER BY id",
        str(seeded.request),
    )
    assert [a["action"] for a in audited] == ["contact_request.claim", "contact_request.complete"]


def test_a_recording_plays_in_the_browser_after_its_listening_event(
    console: Console, page_as: PageAs, shot: Shot, seeded: Seeded, logins: Logins
) -> None:
    login = logins.team
    page = page_as(login)
    page.goto(f"/cases/{seeded.audio_case}")
    row = page.locator(f"tr[data-audio='{seeded.recording}']")
    expect(row).to_contain_text("completed")
    shot(page, "recordings")
    with page.expect_response(re.compile(rf"/api/recordings/{seeded.recording}/audio")) as got:
        row.locator("audio").evaluate("a => { a.muted = true; return a.play(); }")
    assert got.value.status in (200, 206)
    page.wait_for_function(
        "a => a.currentTime > 0", arg=row.locator("audio").element_handle(), timeout=15_000
    )
    events = console.fetch(
        "SELECT e.event_type FROM listening_events e JOIN users u ON u.id = e.user_id"
        " WHERE e.recording_id = $1 AND u.login = $2",
        seeded.recording,
        login,
    )
    assert events and {e["event_type"] for e in events} == {"play"}
    expect(row.get_by_role("link", name="Lataa")).to_have_attribute("href", re.compile("download"))


TRANSCRIPT_TEXT = "Numeroni on [PHONE] ja sähköpostini on [EMAIL]. Kiitos avusta."


def seed_transcript(console: Console, case_id: uuid.UUID, recording_id: uuid.UUID) -> uuid.UUID:
    """A transcript row for the recording, written directly (no whisper run)."""
    tid = uuid.uuid4()
    console.fetch(
        "INSERT INTO transcripts (id, tenant_id, case_id, recording_id, language,"
        " language_detected, engine, model_sha256, confidence, audio_seconds,"
        " processing_seconds, text, redactions, created_at)"
        " SELECT $1, c.tenant_id, c.id, $3, 'fi', false, 'faster-whisper test, int8',"
        " repeat('ab', 32), 0.83, 2.0, 0.4, $4, '{\"PHONE\": 1, \"EMAIL\": 1}'::jsonb, now()"
        " FROM cases c WHERE c.id = $2",
        tid, case_id, recording_id, TRANSCRIPT_TEXT,
    )  # fmt: skip
    return tid


def test_a_transcript_is_shown_on_the_case_page_after_its_listening_event(
    console: Console, page_as: PageAs, shot: Shot, seeded: Seeded, logins: Logins
) -> None:
    tid = seed_transcript(console, seeded.audio_case, seeded.recording)
    events_sql = (
        "SELECT e.event_type, e.link, e.recording_id FROM listening_events e"
        " JOIN users u ON u.id = e.user_id WHERE e.case_id = $1 AND u.login = $2"
        " AND e.event_type = 'transcript'"
    )
    page = page_as(logins.admin)
    page.goto(f"/cases/{seeded.audio_case}")
    row = page.locator(f"[data-testid=transcripts] tr[data-transcript='{tid}']")
    cells = row.locator("td")
    expect(cells.nth(0)).to_have_text("fi")  # from the flow, not detected
    expect(cells.nth(1)).to_have_text("0.83")
    expect(cells.nth(2)).to_have_text("faster-whisper test, int8 · abababababab")
    expect(cells.nth(3)).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))
    text = row.locator(f"[data-transcript-text='{tid}']")
    expect(text).to_be_hidden()  # the list carries no text: nothing read, nothing logged
    assert console.fetch(events_sql, seeded.audio_case, logins.admin) == []
    with page.expect_response(re.compile(rf"/api/transcripts/{tid}$")) as got:
        row.get_by_role("button", name="Näytä").click()
    assert got.value.status == 200
    expect(text).to_be_visible()
    expect(text).to_have_text(TRANSCRIPT_TEXT)
    for placeholder in ("[PHONE]", "[EMAIL]"):
        expect(text).to_contain_text(placeholder)
    shot(page, "transcript")
    (event,) = console.fetch(events_sql, seeded.audio_case, logins.admin)
    assert event["link"] == f"/api/transcripts/{tid}"
    assert event["recording_id"] == seeded.recording
    # an external user: the 403 page, and the API refuses the text (audited, not logged
    # as a read)
    outsider = page_as(logins.external)
    reply = outsider.goto(f"/cases/{seeded.audio_case}")
    assert reply is not None and reply.status == 403
    expect(outsider.locator("[data-testid=transcripts]")).to_have_count(0)
    api = outsider.request.get(f"/api/transcripts/{tid}", headers={"X-Linja-Console": "1"})
    assert api.status == 403 and "[PHONE]" not in api.text()
    assert console.fetch(events_sql, seeded.audio_case, logins.external) == []
    refused = console.fetch(
        "SELECT a.details->>'route' AS route FROM audit_log a JOIN users u"
        " ON u.id = a.actor_user_id WHERE a.action = 'access.refused' AND u.login = $1",
        logins.external,
    )
    assert "/api/transcripts/{id}" in {r["route"] for r in refused}


def test_an_external_user_gets_the_403_page_and_no_nav_to_them(
    console: Console, page_as: PageAs, shot: Shot, seeded: Seeded, logins: Logins
) -> None:
    page = page_as(logins.external)
    page.goto("/")
    for path in ("/bulletins", "/cases", "/reports", "/work"):
        expect(page.locator(f".main-nav a[href='{path}']")).to_have_count(0)
    for path in ("/bulletins", f"/cases/{seeded.answered}", "/reports", "/work"):
        reply = page.goto(path)
        assert reply is not None and reply.status == 403, path
    shot(page, "refused")


def test_a_bulletin_published_from_the_page_is_heard_on_a_call_and_ended(
    console: Console, page_as: PageAs, shot: Shot, tmp_path: Path, logins: Logins
) -> None:
    page = page_as(logins.admin)
    page.goto("/bulletins")
    section = page.locator("section[data-number='100']")
    expect(section.locator("[data-testid=fallback]")).to_have_count(1)
    count_sql = "SELECT count(*) AS n FROM bulletins"
    before = console.fetch(count_sql)[0]["n"]
    # bad input: neither text nor audio, and an end in the past, beside their fields
    section.locator("#f-add-100-ends_at").fill("2020-01-01T10:00")
    section.get_by_role("button", name="Julkaise").click()
    expect(section.locator("#e-add-100-text")).to_have_text("give a text or an audio file")
    expect(section.locator("#e-add-100-ends_at")).to_have_text(
        "must be after the start"
    )  # the start: now
    assert console.fetch(count_sql)[0]["n"] == before
    shot(page, "bulletin-errors")
    text = f"Katko {secrets.randbelow(90) + 10}."  # short: the SIPp call hears it all
    section.locator("#f-add-100-ends_at").fill("")
    section.locator("#f-add-100-text").fill(text)
    section.get_by_role("button", name="Esikuuntele").click()
    expect(section.locator("[data-preview-audio]")).to_have_attribute(
        "data-bytes", re.compile(r"^[1-9]")
    )
    section.get_by_role("button", name="Julkaise").click()
    row = section.locator("[data-testid=bulletins] tr", has_text=text)
    expect(row).to_have_count(1)
    bulletin_id = row.get_attribute("data-bulletin")
    (stored,) = console.fetch("SELECT id, text FROM bulletins WHERE id = $1::uuid", bulletin_id)
    assert stored["text"] == text
    shot(page, "bulletins")
    # the controller plays it: once it knows the bulletin, a SIPp call to 100 is given it
    # (the log names the bulletins a call is played; the caller hangs up 2 s in)
    wait_for("the controller knows the bulletin", lambda: page.request.get(
        f"/api/bulletins/100/{bulletin_id}/audio").status == 200, 15)  # fmt: skip
    result = run_sipp(
        "caller-hangs-up-mid-bulletin.xml", tmp_path, settings=console.settings, timeout=30
    )
    assert result.returncode == 0, result.output
    played = rf"playing \d+ item\(s\) on 100 \(bulletins [^)]*{bulletin_id}"
    # (served by the dialplan alone, the call is named once the controller counts it)
    wait_for("the call given the bulletin", lambda: re.search(played, console.controller.log()), 10)
    # end it now (with the confirmation dialog)
    row.get_by_role("button", name="Lopeta nyt").click()
    page.locator("#confirm-end [data-confirm-yes]").click()
    expect(row).to_have_count(0)
    ended = console.fetch("SELECT cleared_at FROM bulletins WHERE id = $1::uuid", bulletin_id)
    assert ended[0]["cleared_at"] is not None
    actions = console.fetch(
        "SELECT action FROM audit_log WHERE target_id = $1 ORDER BY id", bulletin_id
    )
    assert [a["action"] for a in actions] == ["bulletin.add", "bulletin.end"]
    # an uploaded audio file, scheduled for tomorrow 08-16 local time, then ended too
    tomorrow = (datetime.now(HKI) + timedelta(days=1)).date()
    section.locator("#file-add-100").set_input_files(
        str(write_tone(tmp_path / "katko.wav", 0.5, rate=16000))
    )
    section.locator("#f-add-100-starts_at").fill(f"{tomorrow}T08:00")
    section.locator("#f-add-100-ends_at").fill(f"{tomorrow}T16:00")
    section.get_by_role("button", name="Julkaise").click()
    upcoming = section.locator("[data-testid=bulletins] tr", has_text="äänitiedosto")
    expect(upcoming).to_have_count(1)
    (stored,) = console.fetch(
        "SELECT starts_at, ends_at, audio_sha256 FROM bulletins WHERE id = $1::uuid",
        upcoming.get_attribute("data-bulletin"),
    )
    assert stored["audio_sha256"] is not None
    assert stored["starts_at"] == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 8,
                                           tzinfo=HKI)  # fmt: skip
    assert stored["ends_at"] - stored["starts_at"] == timedelta(hours=8)
    console.fetch(  # gone again for later runs (ending from the page is tested above)
        "UPDATE bulletins SET cleared_at = now() WHERE id = $1::uuid RETURNING id",
        upcoming.get_attribute("data-bulletin"),
    )


def test_an_operator_keeps_the_tenant_they_named_across_the_filter_form(
    console: Console, page_as: PageAs, seeded: Seeded
) -> None:
    page = page_as(console.user(Role.OPERATOR, tenant=None))
    page.goto(f"/cases/abandoned?tenant=demo&queue={seeded.queue}")
    page.get_by_role("button", name="Hae").click()
    expect(page).to_have_url(re.compile(r"[?&]tenant=demo(&|$)"))
    expect(page.locator("[data-testid=abandoned] tbody tr")).to_have_count(1)
    page.goto(f"/reports?tenant=demo&queue={seeded.queue}")
    expect(page.locator("[data-testid=csv]")).to_have_attribute("href", re.compile("tenant=demo"))
