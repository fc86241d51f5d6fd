"""A real headless browser (Debian's Chromium driven by Playwright) against `kb serve`."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import pytest

from tests.web.conftest import serve

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail(
            "Debian's chromium is required in CI (make install-test installs it)", pytrace=False
        )
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page
        browser.close()


def test_moderator_flow_keyboard_answer_citations_and_document(server, page, tmp_path):
    page.goto(server + "/")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("streamer hands a lit sparkler to a toddler while chat cheers")
    page.keyboard.press("Enter")
    page.wait_for_selector("li.hit")
    answer = page.locator("#answer")
    assert answer.is_visible() and "abstain" not in (answer.get_attribute("class") or "")
    assert page.locator("#answer a.marker").count() >= 1
    assert page.locator("h2.group").first.inner_text().lower() == "policy"
    first_cite = page.locator("li.hit .cite a").first.inner_text()
    assert " › " in first_cite and "effective" in first_cite
    assert page.locator("li.hit mark").count() > 0
    page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
    out = os.environ.get("KB_SCREENSHOT_DIR")
    if out:
        page.screenshot(path=str(Path(out) / "search.png"), full_page=False)

    # Arrow keys move through results; Enter opens the cited passage in its document.
    page.locator("#q").press("ArrowDown")
    assert page.evaluate("document.activeElement.classList.contains('hit')")
    page.keyboard.press("ArrowDown")
    expected = page.evaluate("document.activeElement.id").removeprefix("hit-")
    page.keyboard.press("Enter")
    page.wait_for_selector(".passage.arrived")
    assert page.url.endswith("#" + expected)
    arrived = page.locator(".passage.arrived")
    assert arrived.get_attribute("id") == expected and arrived.is_visible()
    page.screenshot(path=str(tmp_path / "document.png"))
    if out:
        page.screenshot(path=str(Path(out) / "document.png"))


def test_on_a_phone_the_answer_is_on_the_first_screen_and_the_filters_fold(server, page):
    phone = page.context.browser.new_page(viewport={"width": 390, "height": 844})
    try:
        phone.goto(server + "/?q=streamer+hands+a+lit+sparkler+to+a+toddler")
        answer = phone.locator("#answer").bounding_box()
        assert answer["y"] < 300  # the answer starts on the first screen
        # The filters are one folded button; opening it shows them, ticking one applies it
        # and the page that comes back keeps the focus on it.
        assert not phone.locator("#filters").is_visible()
        phone.locator("details.filterbox summary").click()
        assert phone.locator("#filters").is_visible()
        with phone.expect_navigation():
            phone.locator("#filters input[name=type][value=policy]").check()
        assert "type=policy" in phone.url
        focused = phone.evaluate("[document.activeElement.name, document.activeElement.value]")
        assert focused == ["type", "policy"]
        # Nothing runs off the side: every header link can be reached without scrolling.
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        for link in phone.locator("header a").all():
            box = link.bounding_box()
            assert box["x"] + box["width"] <= 390, link.inner_text()
    finally:
        phone.close()


def test_off_topic_question_abstains_in_the_browser(server, page):
    page.goto(server + "/?q=best+pizza+in+town")
    card = page.locator("#answer")
    assert "abstain" in card.get_attribute("class")
    assert "consider escalating" in card.inner_text()


PASSWORD = "browser test password"


@pytest.fixture(scope="module")
def users_server(corpus_settings):
    """The same corpus served with sign-in (plain HTTP here, so cookies are not Secure-only)."""
    from kb.users import Users

    store = Users(corpus_settings.data_dir)
    for name, role in (("b-admin", "admin"), ("b-moderator", "moderator")):
        if store.find(name) is None:
            store.add(name, role, PASSWORD)
    store.close()
    yield from serve(corpus_settings.data_dir, KB_AUTH="users", KB_SECURE_COOKIES="false")


def test_sign_in_role_navigation_hidden_rulings_and_sign_out(users_server, page, corpus_settings):
    from kb.catalog import Catalog
    from kb.datadir import DataDir

    catalog = Catalog(DataDir(corpus_settings.data_dir).current() / "catalog.sqlite", readonly=True)
    restricted = catalog.db.execute(
        "SELECT r.case_id, r.facts FROM rulings r WHERE r.visibility != 'all' LIMIT 1"
    ).fetchone()
    catalog.close()

    page.goto(users_server + "/?q=sparkler")
    assert "/login" in page.url  # not signed in: the sign-in page, keeping where we were going
    page.fill("input[name=name]", "b-moderator")
    page.fill("input[name=password]", "wrong password")
    page.click("form.stack button")
    assert "Wrong name or password" in page.locator("[role=alert]").inner_text()
    page.fill("input[name=name]", "b-moderator")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button")
    page.wait_for_selector("li.hit")
    assert "b-moderator · moderator" in page.locator("header").inner_text()
    nav = page.locator("header").inner_text()
    assert "Consistency" not in nav and "Audit" not in nav and "local mode" not in nav

    page.goto(users_server + "/?q=" + urllib.parse.quote(restricted[1][:200]) + "&type=ruling")
    page.wait_for_selector("li.hit")
    assert restricted[0] not in page.content()
    response = page.goto(users_server + f"/documents/{restricted[0]}")
    assert response.status == 404

    page.goto(users_server + "/")
    page.click("header button:has-text('Sign out')")
    page.wait_for_url("**/login**")
    assert page.goto(users_server + "/collections").url.startswith(users_server + "/login")
