"""The three users' journeys in a real browser (Debian's Chromium, Playwright) against `kb
serve` on the shipped corpus, at desktop and phone widths, each step saved as a screenshot
under benchmarks/out/journeys/ for a person to look at; and axe-core (from the npm registry,
installed by `make install-test`, injected by this test only) on every page: no serious or
critical violation."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from playwright.sync_api import expect

from tests.web.pages import PAGES
from tests.web.test_browser import CHROMIUM, FLAGS

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "benchmarks" / "out" / "journeys"
AXE = Path(os.environ.get("KB_AXE_JS", ROOT / ".venv/npm/node_modules/axe-core/axe.min.js"))
WIDTHS = {"desktop": (1400, 900), "phone": (420, 860)}


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(params=list(WIDTHS))
def page(request, browser, server):
    width, height = WIDTHS[request.param]
    context = browser.new_context(
        viewport={"width": width, "height": height},
        base_url=server,
        accept_downloads=True,
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = context.new_page()
    page.width_name = request.param
    yield page
    context.close()


def shot(page, journey: str, step: str) -> None:
    """Save what the page shows now (kept out of git, for a person to look at)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{journey}-{page.width_name}-{step}.png"))


def no_sideways_scroll(page) -> None:
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


def test_moderator_searches_opens_the_clause_and_copies_its_citation(page):
    page.goto("/")
    page.keyboard.press("/")
    page.keyboard.type("strmr drunk n driving, chat egging him on")
    page.keyboard.press("Enter")
    page.wait_for_selector("#answer")
    shot(page, "moderator", "1-answer")
    no_sideways_scroll(page)
    assert page.locator("#answer .governing a").is_visible()
    # The first result's citation, copied with the keyboard alone.
    first = page.locator("li.hit").first
    first.locator("button.copy").focus()
    page.keyboard.press("Enter")
    expect(first.locator("button.copy")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(first.locator(".cite a").inner_text())
    assert re.search(r"\[p[0-9a-f]+\]$", copied)
    # Open the governing clause: it arrives in view, below the header.
    page.locator("#answer .governing a").click()
    page.wait_for_selector(".passage.arrived")
    arrived = page.locator(".passage.arrived").bounding_box()
    header = page.locator("header.top").bounding_box()
    assert arrived["y"] >= 0 and arrived["y"] < page.viewport_size["height"]
    if page.width_name == "desktop":  # the sticky header does not cover it
        assert arrived["y"] >= header["y"] + header["height"] - 1
    shot(page, "moderator", "2-clause")
    no_sideways_scroll(page)


def test_policy_manager_browses_rulings_by_filters_pages_and_exports(page, tmp_path):
    page.goto("/?type=ruling&outcome=suspend&k=5")
    bar = page.locator("nav.listbar")
    assert bar.inner_text().startswith("Listing 1–5 of ")
    total = int(re.search(r"of (\d+)", bar.inner_text()).group(1))
    shot(page, "policy", "1-list")
    no_sideways_scroll(page)
    dates = page.locator("li.hit").evaluate_all(
        "els => els.map(e => e.querySelector('.outcome').nextSibling.textContent)"
    )
    assert len(dates) == 5
    page.locator("nav.pager a[rel=next]").click()
    assert page.locator("nav.listbar").inner_text().startswith("Listing 6–10")
    shot(page, "policy", "2-page-2")
    page.locator("nav.listbar a", has_text="outcome").click()
    assert "sort=outcome" in page.url and "page=" not in page.url
    with page.expect_download() as download:
        page.locator("nav.listbar a", has_text="Export CSV").click()
    saved = tmp_path / "list.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert len(rows) == total and {r["outcome"] for r in rows} == {"suspend"}
    assert all(r["kind"] == "ruling" and r["url"].startswith("http") for r in rows)


def test_trainer_builds_reorders_annotates_and_exports_a_collection(page, tmp_path):
    name = f"journey-{page.width_name}"
    page.goto("/collections")
    page.fill("input[name=name]", name)
    page.fill("input[name=description]", "Fire on LIVE, week 1")
    page.locator("form.stack button", has_text="Create").click()
    page.wait_for_url(f"**/collections/{name}")
    # Three results added from the search page without leaving it; a fourth click on the
    # first is refused.
    page.goto("/?q=lit+sparkler+handed+to+a+toddler")
    page.select_option("#add-to select[name=collection]", name)
    buttons = page.locator("button.add")
    for i in range(3):
        buttons.nth(i).click()
        page.locator("span.added").nth(i).wait_for()
    buttons.nth(0).click()
    expect(page.locator("span.added").first).to_have_text(re.compile("^Already in"))
    assert "/?q=" in page.url
    shot(page, "trainer", "1-added")
    page.goto(f"/collections/{name}")
    items = page.locator("ol.items > li")
    assert items.count() == 3
    titles = [t.inner_text() for t in page.locator("ol.items h2").all()]
    # Reorder with the keyboard: the third item up twice.
    items.nth(2).locator("button[value=up]").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.value") == "up"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    moved = [t.inner_text().split(". ", 1)[1] for t in page.locator("ol.items h2").all()]
    assert moved[0] == titles[2].split(". ", 1)[1]
    # Annotate the first, remove the last.
    page.locator("ol.items > li").first.locator("textarea").fill("Start here: the rule itself")
    with page.expect_navigation():
        page.locator("ol.items > li").first.locator("button[value=note]").click()
    with page.expect_navigation():
        page.locator("ol.items > li").last.locator("button[value=remove]").click()
    assert page.locator("ol.items > li").count() == 2
    shot(page, "trainer", "2-collection")
    no_sideways_scroll(page)
    with page.expect_download() as download:
        page.locator("p.exports a", has_text="Markdown").click()
    md = tmp_path / "c.md"
    download.value.save_as(md)
    text = md.read_text()
    assert text.startswith(f"# {name}") and "*Trainer's note:* Start here: the rule itself" in text
    assert "(http://127.0.0.1:" in text
    assert MarkdownIt("commonmark").enable("table").render(text).count("<blockquote>") == 2
    with page.expect_download() as download:
        page.locator("p.exports a", has_text="CSV for Excel").click()
    raw = tmp_path / "c.csv"
    download.value.save_as(raw)
    rows = list(csv.DictReader(io.StringIO(raw.read_text(encoding="utf-8-sig"))))
    assert raw.read_bytes().startswith(b"\xef\xbb\xbf")
    assert [r["position"] for r in rows] == ["1", "2"]
    assert rows[0]["note"] == "Start here: the rule itself" and rows[0]["title"]
    page.locator("details.manage summary").click()
    page.once("dialog", lambda d: d.accept())
    page.locator("button", has_text="Delete the collection").click()
    page.wait_for_url("**/collections")


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"axe-core is required in CI ({AXE}; make install-test installs it)")
        pytest.skip(f"axe-core is not installed ({AXE}): make install-test")
    return AXE.read_text()


def test_no_serious_accessibility_violation_on_any_page(browser, server, axe_source):
    found = {}
    for name, (width, height) in WIDTHS.items():
        # The app's content security policy refuses injected scripts; only this context
        # (the test's) lifts it, to run axe.
        context = browser.new_context(
            viewport={"width": width, "height": height}, base_url=server, bypass_csp=True
        )
        page = context.new_page()
        for url in PAGES:
            page.goto(url)
            if page.evaluate("document.documentElement.scrollWidth") > width:
                found[f"{name} {url}"] = "scrolls sideways"
            page.add_script_tag(content=axe_source)
            result = page.evaluate(
                "async () => (await axe.run(document, {runOnly: {type: 'tag', values: "
                "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}}))"
                ".violations.filter(v => ['serious', 'critical'].includes(v.impact))"
                ".map(v => ({id: v.id, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target)}))"
            )
            if result:
                found[f"{name} {url}"] = result
        context.close()
    assert not found, json.dumps(found, indent=1)[:20000]
