"""The web console in a real headless Chromium against the real stack.

VNPT's dispatcher signs in, sees a line fault published over HTTP arrive live, acknowledges
and resolves it with the buttons and opens its timeline; Viettel's dispatcher, signed in at
the same time, never sees it; the Department watches the district change colour and
reassigns an incident; a state change without the CSRF token is refused; a revoked token's
session stops at once. Each view's screenshot is kept in .signalpost/artefacts/console.
"""

from __future__ import annotations

import time

import httpx
import pytest

from schemas.example_reports import report
from schemas.registry import REFERENCE_REGISTRY, load_registry, load_rosters
from services.gateway.tokens import revoke_token
from services.runtime import db
from tests.support.browser import CHROMIUM, chromium, screenshot_path
from tests.support.gateway_stack import start_gateway, stop_gateway

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed"),
]
VNPT, VIETTEL, DEPARTMENT = "vnpt-quang-nam", "viettel-quang-nam", "so-bcvt-quang-nam"
DISTRICT = "tien-phuoc"  # the example line fault's
WAIT_MS = 60_000
# Whoever of VNPT the roster puts on duty when the fault arrives: id -> name.
_REGISTRY = load_registry()
VNPT_PEOPLE = {
    p.id: p.name for p in load_rosters(REFERENCE_REGISTRY, _REGISTRY).by_enterprise[VNPT].people
}


@pytest.fixture
async def system(running_system, tmp_path):
    """The console's gateway (restarted by the test, so kept in a list) and the publishers'."""
    settings, _, _ = running_system
    console = await start_gateway(settings, tmp_path / "gateway.log", **QUICK)
    publishers = await start_gateway(settings, tmp_path / "publishers.log")
    gateways = [console, publishers]
    yield gateways
    for gateway in gateways:
        await stop_gateway(gateway)


# Open streams recheck their session every second (a revoke's effect, sooner).
QUICK = {"SIGNALPOST_GATEWAY_STREAM_HEARTBEAT_SECONDS": "1"}


async def signed_in(browser, gateway, secret: str, *, width: int = 1280):
    """A browser of its own (its own cookies) signed in with `secret`, its stream live."""
    context = await browser.new_context(viewport={"width": width, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    await page.goto(f"{gateway.url}/console")
    await page.fill("#token", secret)
    await page.click("#signin button[type=submit]")
    await page.wait_for_selector("#signout", state="visible", timeout=WAIT_MS)
    return page


async def live(page) -> None:
    await page.wait_for_selector('#live[data-state="live"]', timeout=WAIT_MS)


async def publish(http: httpx.AsyncClient, report_id: str, line: str) -> str:
    """A line fault on one of VNPT's lines in Tiên Phước; its incident key."""
    body = report("line_fault", report_id, **{"alarmed_object.id": line})
    answer = await http.post("/v1/reports/line_fault", json=body)
    assert answer.status_code == 202, answer.text
    return answer.json()["incident_key"]


def card(key: str) -> str:
    return f'article.task[data-incident-key="{key}"]'


async def test_dispatchers_and_the_department_work_in_the_console(system, test_id, tmp_path):
    gateway, publishers = system
    publisher = publishers.client(await publishers.token(VNPT, "publisher"))
    vnpt_secret = await gateway.token(VNPT, "dispatcher")
    async with chromium() as browser:
        vnpt = await signed_in(browser, gateway, vnpt_secret)
        viettel = await signed_in(browser, gateway, await gateway.token(VIETTEL, "dispatcher"))
        department = await signed_in(
            browser, gateway, await gateway.token(DEPARTMENT, "supervisor")
        )
        for page in (vnpt, viettel, department):
            await live(page)
        tile = f'.tile[data-district="{DISTRICT}"]'
        assert await department.get_attribute(tile, "data-state") == "calm"

        # A line fault over HTTP appears on VNPT's page, and nowhere on Viettel's.
        key = await publish(publisher, f"{test_id}-a", "HOTLINE-BAUCU-03")
        published = time.monotonic()
        await vnpt.wait_for_selector(card(key), timeout=WAIT_MS)
        print(f"\npublished -> on the dispatcher's page: {time.monotonic() - published:.2f} s")
        incident = await vnpt.get_attribute(card(key), "data-incident-id")
        assert await vnpt.is_visible("#p1-alert")  # a new P1 is made obvious
        # The card names the person on duty, from VNPT's roster.
        person = await vnpt.get_attribute(f"{card(key)} .on-duty", "data-person")
        assert person in VNPT_PEOPLE, person
        assert VNPT_PEOPLE[person] in await vnpt.inner_text(f"{card(key)} .on-duty")
        await vnpt.screenshot(path=screenshot_path("dispatcher-tasks"), full_page=True)

        # The console's gateway restarts; a fault published meanwhile is there once it is back.
        await stop_gateway(gateway)
        await vnpt.wait_for_selector('#live[data-state="reconnecting"]', timeout=WAIT_MS)
        meanwhile = await publish(publisher, f"{test_id}-c", "VNPT-TPH-0043")
        port = int(gateway.url.rsplit(":", 1)[1])
        gateway = system[0] = await start_gateway(
            gateway.settings, tmp_path / "gateway-again.log", port=port, **QUICK
        )
        await vnpt.wait_for_selector(card(meanwhile), timeout=WAIT_MS)
        await vnpt.wait_for_selector('#live[data-state="live"]', timeout=WAIT_MS)
        assert await vnpt.locator(card(key)).count() == 1  # nothing twice

        # The Department's district changes colour.
        await department.wait_for_selector(f'{tile}:not([data-state="calm"])', timeout=WAIT_MS)
        await department.screenshot(path=screenshot_path("department-board"), full_page=True)

        # Viettel never sees it: not on the page, not in its stream, not by its URL.
        assert await viettel.query_selector(card(key)) is None
        streamed = await viettel.evaluate(STREAM_FOR_TWO_SECONDS)
        assert "event: task" in streamed or streamed.startswith("retry:"), streamed[:200]
        assert incident not in streamed and key not in streamed
        await viettel.goto(f"{gateway.url}/console#/incident/{incident}")
        await viettel.wait_for_selector("#content .error", timeout=WAIT_MS)
        looked_up = await viettel.evaluate(f"fetch('/v1/incidents/{incident}').then(r => r.status)")
        assert looked_up == 404
        await viettel.screenshot(path=screenshot_path("other-enterprise"), full_page=True)

        # CSRF: a state change from the signed-in page without the token is refused.
        forged = await vnpt.evaluate(FORGED_NOTE, incident)
        assert forged["status"] == 403 and forged["body"]["error"] == "csrf_failed", forged

        # Acknowledge and resolve with the buttons.
        await vnpt.fill("#on-duty", "Trực ban Tiên Phước")
        await vnpt.click(f'{card(key)} button[data-action="acknowledge"]')
        await vnpt.wait_for_selector(f'{card(key)}[data-status="acknowledged"]', timeout=WAIT_MS)
        await vnpt.click(f'{card(key)} button[data-action="resolve"]')
        await vnpt.fill("#field-resolution", "Đã nối lại cáp")
        await vnpt.click("#action-confirm")
        await vnpt.check("#show-closed")
        await vnpt.wait_for_selector(f'{card(key)}[data-status="resolved"]', timeout=WAIT_MS)

        # The incident page shows the timeline, both clocks and the routing.
        await vnpt.click(f"{card(key)} a.summary")
        await vnpt.wait_for_selector("#incident-title", timeout=WAIT_MS)
        resolved_row = 'tr[data-type="incident_resolved"]'
        for _ in range(60):  # the recorder writes within moments; reload until it has
            if await vnpt.query_selector(resolved_row):
                break
            await vnpt.wait_for_timeout(500)
            await vnpt.evaluate("window.dispatchEvent(new HashChangeEvent('hashchange'))")
        assert await vnpt.query_selector(resolved_row), await vnpt.inner_text("#content")
        assert await vnpt.query_selector('tr[data-type="incident_acknowledged"]')
        assert await vnpt.get_attribute("#chain", "data-chain") == "intact"
        assert await vnpt.query_selector("#rule code")
        ack_clock = 'tr[data-deadline="acknowledge"]'
        assert await vnpt.get_attribute(ack_clock, "data-state") in ("met", "missed")
        assert await vnpt.locator('[data-section="incident.told"] tbody tr').count() >= 1
        assert await vnpt.locator("tr.outcome-decided").count() == 1  # route --explain's rule
        await vnpt.screenshot(path=screenshot_path("incident-page"), full_page=True)

        # The Department reassigns another incident from the district's list, to Viettel.
        second = await publish(publisher, f"{test_id}-b", "VNPT-TPH-0042")
        await department.click(tile)
        await department.wait_for_selector(card(second), timeout=WAIT_MS)
        await department.click(f'{card(second)} button[data-action="reassign"]')
        await department.select_option("#field-to_enterprise", VIETTEL)
        await department.fill("#field-reason", "VNPT's crew is on the cable cut")
        await department.click("#action-confirm")
        await department.wait_for_selector("#toast.ok", timeout=WAIT_MS)
        await viettel.goto(f"{gateway.url}/console#/tasks")
        await viettel.wait_for_selector(card(second), timeout=WAIT_MS)
        await department.screenshot(path=screenshot_path("department-district"), full_page=True)

        # In English, and at phone width.
        await vnpt.click("#lang")
        await vnpt.goto(f"{gateway.url}/console#/tasks")
        await vnpt.wait_for_selector("#task-count", timeout=WAIT_MS)
        assert "tasks" in await vnpt.inner_text("#task-count")
        await vnpt.screenshot(path=screenshot_path("dispatcher-english"), full_page=True)
        phone = await signed_in(browser, gateway, vnpt_secret, width=390)
        await live(phone)
        await phone.screenshot(path=screenshot_path("dispatcher-phone"), full_page=True)
        assert await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

        # The auditor reads the SLA figures and charts, and changes nothing.
        auditor = await signed_in(browser, gateway, await gateway.token(DEPARTMENT, "auditor"))
        await auditor.wait_for_selector("#audit-summary", timeout=WAIT_MS)
        assert await auditor.locator('tr[data-dimension="enterprise"]').count() >= 1
        assert await auditor.query_selector("figure.chart svg")
        assert await auditor.query_selector("button[data-action]") is None
        await auditor.wait_for_selector(f'tr[data-incident-id="{incident}"][data-chain="intact"]')
        await auditor.screenshot(path=screenshot_path("auditor-view"), full_page=True)

        # Revoking the token ends its sessions at once: the page is back at sign-in.
        conn = await db.connect(gateway.settings, url=gateway.settings.owner_database_url)
        try:
            token_id = await conn.fetchval(
                "SELECT token_id FROM api_tokens WHERE enterprise = $1 AND role = 'dispatcher'"
                " AND revoked_at IS NULL", VNPT)  # fmt: skip
            assert await revoke_token(conn=conn, token_id=token_id)
        finally:
            await conn.close()
        assert await vnpt.evaluate("fetch('/v1/session').then(r => r.status)") == 401
        await vnpt.wait_for_selector("#signin", state="visible", timeout=WAIT_MS)
        for page in (vnpt, viettel, department, phone, auditor):
            assert page.errors == [], page.errors
    await publisher.aclose()


# Read the caller's own task stream for two seconds and give back what came.
STREAM_FOR_TWO_SECONDS = """async () => {
  const answer = await fetch('/v1/tasks/stream?start=beginning');
  const reader = answer.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  setTimeout(() => reader.cancel(), 2000);  // ends the pending read with done
  for (;;) {
    const next = await reader.read();
    if (next.done) return text;
    text += decoder.decode(next.value);
  }
}"""

# A note sent with the session cookie but without the page's CSRF token.
FORGED_NOTE = """async (incident) => {
  const answer = await fetch(`/v1/incidents/${incident}/notes`, {
    method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({text: 'forged'})});
  return {status: answer.status, body: await answer.json()};
}"""


async def tab_to(page, selector: str, presses: int = 60) -> None:
    """Press Tab until `selector` has the focus, as a keyboard user moves through the page."""
    for _ in range(presses):
        if await page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never took the focus in {presses} presses of Tab")


async def test_a_dispatcher_signs_in_and_closes_a_task_with_the_keyboard_alone(system, test_id):
    gateway, publishers = system
    publisher = publishers.client(await publishers.token(VNPT, "publisher"))
    secret = await gateway.token(VNPT, "dispatcher")
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{gateway.url}/console")
        await page.wait_for_selector("#signin", state="visible", timeout=WAIT_MS)
        await tab_to(page, "#token")
        await page.keyboard.type(secret)
        await page.keyboard.press("Enter")
        await live(page)
        key = await publish(publisher, f"{test_id}-k", "HOTLINE-BAUCU-03")
        await page.wait_for_selector(card(key), timeout=WAIT_MS)
        await tab_to(page, f'{card(key)} button[data-action="acknowledge"]')
        await page.keyboard.press("Enter")
        await page.wait_for_selector(f'{card(key)}[data-status="acknowledged"]', timeout=WAIT_MS)
        await tab_to(page, f'{card(key)} button[data-action="resolve"]')
        await page.keyboard.press("Enter")
        # The dialog takes the focus on its one required field; Enter sends it.
        await page.wait_for_selector("#field-resolution:focus", timeout=WAIT_MS)
        await page.keyboard.type("Đã nối lại cáp")
        await page.keyboard.press("Enter")
        await page.wait_for_selector(card(key), state="detached", timeout=WAIT_MS)
        await page.wait_for_selector("#toast.ok", timeout=WAIT_MS)
    await publisher.aclose()
