"""The dashboard in real Chromium: each role signs in through the form, sees what it may and acts
where it may; the store-manager sees only their store; a viewer has no controls and a forged form is
refused; both languages; axe-core finds nothing serious or critical on any page; the browser loads
nothing from anywhere but this server. Screenshots of every page go to test-output/dashboard/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from testbed.receivers import webhook_receiver
from tests.api.kiosk.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.cabinetcloud.dashboard.browser import ROOT, SHOT_NAMES, VIEWPORT, Served, Visit, serve
from tests.conftest import require_system

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_system(f"chromium ({CHROMIUM})", CHROMIUM.exists())
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture
def visit(browser: Browser, served: Served, request: pytest.FixtureRequest) -> Iterator[Visit]:
    lang = getattr(request, "param", "en")
    context = browser.new_context(viewport=VIEWPORT, locale=lang)  # type: ignore[arg-type]
    opened = Visit(context.new_page(), served.base)
    yield opened
    context.close()
    assert opened.elsewhere() == []


def shown(visit: Visit, selector: str) -> list[str]:
    return [text.strip() for text in visit.page.locator(selector).all_inner_texts()]


@pytest.mark.parametrize("visit", ["en", "zh-CN"], indirect=True)
def test_ok__an_admin_goes_through_every_page(visit: Visit) -> None:
    lang = "zh-CN" if visit.page.evaluate("navigator.language") == "zh-CN" else "en"
    visit.go("/dashboard/cabinets/sim-1")
    assert "/dashboard/login?next=/dashboard/cabinets/sim-1" in visit.page.url
    visit.check(f"login-{lang}")
    visit.page.fill("#name", "ada")
    visit.page.fill("#password", "not the password")
    with visit.page.expect_navigation():
        visit.page.click("#sign-in")
    assert visit.page.locator("#login-problem").is_visible()
    visit.check(f"login-failed-{lang}")
    visit.sign_in("ada")
    assert visit.page.locator("html").get_attribute("lang") == lang
    for path, shot in [
        ("/dashboard", "overview"),
        ("/dashboard/stores/demo", "store"),
        ("/dashboard/cabinets/sim-1", "cabinet"),
        ("/dashboard/attention", "attention"),
        ("/dashboard/tickets?all=1", "tickets"),
        ("/dashboard/devices/S1-0003", "device"),
        ("/dashboard/audit", "audit"),
        ("/dashboard/cabinets/ghost", "not-found"),
    ]:
        visit.go(path)
        visit.check(f"{shot}-{lang}")
    visit.go("/dashboard/cabinets/north-1")
    with visit.page.expect_navigation():
        visit.page.click("#rotate")
    assert re.fullmatch(r"cab1_\S+", visit.page.inner_text("#token"))
    visit.check(f"token-{lang}")
    visit.sign_out()
    assert visit.page.url.endswith("/dashboard/login")
    visit.go("/dashboard")
    assert "/dashboard/login" in visit.page.url
    assert visit.problems == []


@pytest.mark.parametrize("visit", ["en", "zh-CN"], indirect=True)
def test_ok__an_operator_adds_an_endpoint_and_sends_it_a_test_event(visit: Visit) -> None:
    lang = "zh-CN" if visit.page.evaluate("navigator.language") == "zh-CN" else "en"
    visit.sign_in("otto")
    with webhook_receiver() as receiver:
        visit.go("/dashboard/endpoints")
        visit.page.select_option("#endpoint-store", "demo")
        visit.page.fill("#endpoint-name", f"repairs-{lang}")
        visit.page.fill("#endpoint-url", receiver.url)
        visit.page.check("input[name=event_types][value='repair_ticket.opened']")
        visit.page.check("#endpoint-private")
        with visit.page.expect_navigation():
            visit.page.click("#add")
        receiver.secret = visit.page.inner_text("#secret")
        with visit.page.expect_navigation():
            visit.page.click("a[href^='/dashboard/endpoints#endpoint-']")
        row = visit.page.locator("#endpoints tbody tr", has_text=f"repairs-{lang}")
        visit.check(f"endpoints-{lang}")
        with visit.page.expect_navigation():
            row.locator("button[id^=test-]").click()
        assert visit.page.get_attribute("#test-status", "class") == "flag good"
        visit.check(f"tested-{lang}")
    assert [came.verified for came in receiver.received] == [True]
    with visit.page.expect_navigation():
        visit.page.click("main a[href^='/dashboard/deliveries/']")
    assert visit.page.locator("#attempts tbody tr").count() == 1
    visit.check(f"delivery-{lang}")
    visit.go("/dashboard/deliveries")
    assert visit.page.locator("#deliveries tbody tr[data-status=delivered]").count() >= 1
    visit.check(f"deliveries-{lang}")
    visit.sign_out()
    assert visit.problems == []


def test_ok__a_store_manager_sees_only_their_store(visit: Visit) -> None:
    visit.sign_in("mia")
    assert shown(visit, "#stores tbody th") == ["North store"]
    assert shown(visit, "#cabinets tbody th") == ["north-1"]
    assert visit.page.locator("a[href='/dashboard/audit']").count() == 0
    visit.check("overview-store-manager-en")
    visit.go("/dashboard/attention")
    assert shown(visit, "#overdue tbody th") == ["S1-0101"]
    visit.check("attention-store-manager-en")
    visit.go("/dashboard/cabinets/north-1")
    assert visit.page.locator("#rotate").count() == 0
    for path in ("/dashboard/stores/demo", "/dashboard/cabinets/sim-1", "/dashboard/audit"):
        reply = visit.go(path)
        assert reply.status in (403, 404)
    assert visit.go("/dashboard/cabinets/sim-1").status == 404
    assert visit.page.inner_text("h1") == "Not found"
    visit.sign_out()
    assert visit.problems == []


def test_ok__a_viewer_has_no_controls_and_a_forged_form_is_refused(visit: Visit) -> None:
    visit.sign_in("vic")
    visit.go("/dashboard/cabinets/sim-1")
    assert visit.page.locator("main form[method=post]").count() == 0
    visit.check("cabinet-viewer-en")
    visit.go("/dashboard/stores/demo")
    assert visit.page.locator("#enrol-form").count() == 0
    # The viewer's own session and CSRF token, in a form the page never offered.
    csrf = visit.page.locator("input[name=csrf_token]").first.get_attribute("value")
    visit.page.evaluate(
        """(csrf) => {
          const form = Object.assign(document.createElement("form"), {method: "post"});
          form.action = "/dashboard/cabinets/sim-1/rotate";
          const field = {type: "hidden", name: "csrf_token", value: csrf};
          form.append(Object.assign(document.createElement("input"), field));
          document.body.append(form);
          form.submit();
        }""",
        csrf,
    )
    visit.page.wait_for_url("**/rotate")
    assert visit.page.inner_text("h1") == "Not allowed"
    visit.check("forbidden-en")
    visit.sign_out()
    assert visit.problems == []


def test_ok__an_operator_switches_language_and_acts(visit: Visit) -> None:
    visit.sign_in("otto")
    visit.go("/dashboard/cabinets/sim-1")
    with visit.page.expect_navigation():
        visit.page.click("a[hreflang=zh-CN]")
    assert visit.page.inner_text("h1") == "设备柜 sim-1"
    visit.go("/dashboard/stores/demo")
    assert visit.page.locator("html").get_attribute("lang") == "zh-CN"
    visit.page.fill("#enrol-id", "demo-3")
    with visit.page.expect_navigation():
        visit.page.click("#enrol")
    assert visit.page.inner_text("h1") == "设备柜 demo-3 的新令牌"
    visit.go("/dashboard/cabinets/sim-1")
    visit.page.select_option("#command-kind", "unlock_slot")
    visit.page.select_option("#command-slot", "5")
    visit.page.fill("#command-reason", "卡住了")
    with visit.page.expect_navigation():
        visit.page.click("#queue-command")
    assert shown(visit, "#command-list tbody td:nth-child(3)")[0] == "reason=卡住了 slot=5"
    visit.check("commands-zh-CN")
    visit.sign_out()
    assert visit.problems == []


def test_ok__the_cabinets_slots_follow_what_the_cabinet_reports(visit: Visit, served: Served) -> None:
    visit.sign_in("vic")
    visit.go("/dashboard/cabinets/sim-1")
    slot = visit.page.locator("#slots li[data-slot='3']")
    assert slot.get_attribute("data-state") == "faulty"
    served.slot_changes("sim-1", 3, "faulty", "disabled")
    # The page fetches the picture again every 5 s: within a few rounds it shows the new state.
    visit.page.wait_for_selector("#slots li[data-slot='3'][data-state='disabled']", timeout=20_000)
    assert "out of service" in slot.inner_text()
    visit.sign_out()


@pytest.mark.parametrize("visit", ["en", "zh-CN"], indirect=True)
def test_ok__an_operator_follows_a_rollout(visit: Visit, served: Served) -> None:
    lang = "zh-CN" if visit.page.evaluate("navigator.language") == "zh-CN" else "en"
    visit.sign_in("otto")
    visit.go("/dashboard/releases")
    visit.check(f"releases-{lang}")
    with visit.page.expect_navigation():
        visit.page.click(f"#releases a[href='/dashboard/rollouts/{served.rollout_id}']")
    assert shown(visit, "#rollout-cabinets tbody th") == ["north-1", "sim-1"]
    visit.check(f"rollout-{lang}")
    visit.go("/dashboard/releases")
    form = visit.page.locator("form[id^='roll-out-']").first
    form.locator("select[name=store]").select_option("north")
    with visit.page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert re.search(r"/dashboard/rollouts/\d+$", visit.page.url), visit.page.url
    assert shown(visit, "#rollout-cabinets tbody th") == ["north-1"]
    visit.check()
    visit.sign_out()
    assert visit.problems == []


def test_ok__docs_dashboard_md_lists_every_screenshot() -> None:
    doc = (ROOT / "docs" / "dashboard.md").read_text(encoding="utf-8")
    listed = doc.split("<!-- screenshots -->")[1].split("<!-- /screenshots -->")[0]
    named = set(re.findall(r"`([a-zA-Z0-9-]+)\.png`", listed))
    assert sorted(named ^ SHOT_NAMES) == []
