"""Reading, comparing and accessibility in a real browser (Debian's Chromium, Playwright)
against `kb serve`: a generated report series folded, grouped, filtered by year and compared;
the reader on a phone; axe-core on every page in light and dark schemes.

Screenshots of each state are saved under tests/output/ to be looked at.
"""

# ruff: noqa: F811  (pytest fixtures imported from the other browser module are test arguments here)
from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_browser import OUTPUT, _search, browser_context, page  # noqa: F401  (fixtures)
from .test_server import running_server, server  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
ABOUT = "what does the Acme Reading Foundation do"
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def series_server(series_settings):
    with running_server(KB_HOME=str(series_settings.home)) as base:
        yield base


@pytest.fixture(scope="module")
def pdf_server(tmp_path_factory):
    """`kb serve` over a real earnings release (a PDF with tables)."""
    import shutil

    from kb import KnowledgeBase, Settings

    folder = tmp_path_factory.mktemp("pdf")
    shutil.copy(ROOT / "tests" / "data" / "filings" / "ultabeauty-earnings-release-2023-q1.pdf", folder)
    home = tmp_path_factory.mktemp("pdf-home")
    assert KnowledgeBase(Settings.load(env={}, home=home)).ingest([folder]).added
    with running_server(KB_HOME=str(home)) as base:
        yield base


def _about(page):
    return page.locator("li.result", has=page.locator(".section", has_text="About the Foundation")).first


def test_fold_boilerplate_across_three_editions_and_expand_it(page, series_server):
    _search(page, series_server, ABOUT)
    about = _about(page)
    assert "Acme Reading Foundation Annual Report 2023" in about.locator(".title").inner_text()  # newest shown
    also = about.locator("details.also")
    assert also.locator("summary").inner_text() == "Also in the 2021 and 2022 editions"
    assert not also.locator("li").first.is_visible()
    also.locator("summary").click()
    lines = also.locator("li").all_inner_texts()
    assert len(lines) == 2 and "2021" in lines[0] and "2022" in lines[1]
    assert all("differs in This report covers" in line for line in lines)  # what changed, not the whole passage again
    assert page.locator(".section", has_text="About the Foundation").count() == 1
    page.screenshot(path=str(OUTPUT / "series-folded.png"), full_page=True)


def test_group_by_series_then_filter_by_year(page, series_server):
    _search(page, series_server, "reading programmes")
    assert page.locator(".timeline li").count() == 3
    with page.expect_navigation():  # a filter applies as soon as it changes
        page.select_option("#f-group", "series")
    assert "group=series" in page.url
    assert page.locator(".group-title").first.inner_text().startswith("Acme Reading Foundation · annual report")
    page.screenshot(path=str(OUTPUT / "series-grouped.png"), full_page=True)
    with page.expect_navigation():
        page.select_option("#f-year", "2022")
    titles = page.locator("li.result .title").all_inner_texts()
    assert titles and all(t.endswith("2022") for t in titles)
    assert page.locator(".apply").is_hidden()  # with JavaScript the button is not needed
    page.screenshot(path=str(OUTPUT / "series-year-2022.png"), full_page=True)


def test_compare_editions_side_by_side(page, series_server):
    _search(page, series_server, ABOUT)
    with page.expect_navigation():
        _about(page).locator("a", has_text="Compare editions").click()
    articles = page.locator(".compare article")
    assert articles.count() == 3
    texts = articles.all_inner_texts()
    assert "This report covers 2023" in texts[0] and "This report covers 2022" in texts[1] and "covers 2021" in texts[2]
    boxes = [articles.nth(i).bounding_box() for i in range(2)]
    assert boxes[0] and boxes[1] and abs(boxes[0]["y"] - boxes[1]["y"]) < 2  # side by side on a desktop
    page.screenshot(path=str(OUTPUT / "compare-editions.png"), full_page=True)
    with page.expect_navigation():
        page.locator(".compare article.edition a").first.click()
    assert "/read?p=" in page.url and page.locator("mark").first.is_visible()


def test_the_reader_opens_at_the_passage_on_a_phone(page, server):  # noqa: F811
    page.set_viewport_size(PHONE)
    _search(page, server, "How many health professionals were trained in newborn care?")
    box = page.locator("#filters-box")
    assert box.get_attribute("open") is None  # filters folded behind a button above the results
    assert page.locator(".filters-toggle").bounding_box()["y"] < page.locator("li.result").first.bounding_box()["y"]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert "748,000" in page.locator(".answer blockquote").inner_text()  # the answer first
    page.screenshot(path=str(OUTPUT / "phone-results.png"), full_page=True)
    with page.expect_navigation():
        page.locator(".answer a").first.click()
    marked = page.locator("mark.sentence").first  # the answering sentence, marked inside its passage
    rect = marked.bounding_box()
    assert marked.is_visible() and rect is not None and 0 <= rect["y"] < PHONE["height"]
    assert "748,000" in marked.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways scroll
    page.screenshot(path=str(OUTPUT / "reader-phone.png"))
    page.goto(server + "/documents")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_a_table_reads_as_a_table_and_the_page_image_marks_the_passage(page, pdf_server):
    _search(page, pdf_server, "Ulta Beauty diluted earnings per share first quarter")
    result = page.locator("li.result", has=page.locator("p.text", has_text="Diluted earnings per share")).first
    with page.expect_navigation():
        result.locator("a", has_text="Read it in the report").click()
    row = page.locator("table.data tr", has=page.locator("th", has_text="Diluted earnings per share")).first
    assert row.locator("td").all_inner_texts() == ["$ 6.88", "$ 6.30"]
    assert row.is_visible() and row.get_attribute("class") in ("passage", "sentence")  # marked as the result's rows
    page.screenshot(path=str(OUTPUT / "reader-table.png"))
    page.go_back(wait_until="load")
    result.locator("button.copy", has_text="Copy citation").click()  # the citation names the page
    page.wait_for_function("navigator.clipboard.readText().then(t => t.includes('p. '))")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert ", p. 1," in copied and "Ulta Beauty" in copied and "/read?p=" in copied and "#p-" in copied
    with page.expect_navigation():
        result.locator("a", has_text="Page image").click()
    image = page.locator(".page-image img")
    page.wait_for_function("document.querySelector('.page-image img').complete")
    assert image.evaluate("img => img.naturalWidth") == 918
    page.screenshot(path=str(OUTPUT / "page-image.png"), full_page=True)


@pytest.fixture(scope="module")
def axe_context(browser_context):  # noqa: F811
    """A context of the same Chromium that lets the test inject axe-core despite the pages'
    Content-Security-Policy."""
    assert AXE.exists(), "make browser installs axe-core from the npm registry"
    context = browser_context.browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    context.set_default_timeout(30_000)
    yield context
    context.close()


def _violations(page) -> list[dict]:
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    found = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
        .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))""")
    return [v for v in found if v["impact"] in ("serious", "critical")]


def test_every_page_passes_axe_in_light_and_dark(axe_context, server, series_server, pdf_server):  # noqa: F811
    page = axe_context.new_page()
    _search(page, pdf_server, "Ulta Beauty diluted earnings per share")
    pdf_pages = [pdf_server + page.locator("a.open").first.get_attribute("href").split("#")[0],
                 pdf_server + page.locator("a", has_text="Page image").first.get_attribute("href")]
    _search(page, series_server, ABOUT)
    passage = _about(page).locator("a", has_text="Compare editions").get_attribute("href")
    pages = [server + "/", server + "/?q=newborn+care", server + "/?q=zebra+xylophone+quantum", server + "/documents",
             server + "/signin", series_server + "/documents", series_server + "/?q=reading+programmes&group=series",
             series_server + passage, series_server + passage.replace("/compare", "/similar"), server + "/api/v1/docs",
             *pdf_pages]
    page.goto(server + "/?q=newborn+care")
    pages += [server + page.locator("a.open").first.get_attribute("href").split("#")[0],
              server + page.locator("li.result .title a").first.get_attribute("href").split("/read")[0]]
    failures = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for url in pages:
            page.goto(url)
            if found := _violations(page):
                failures[f"{scheme} {url}"] = found
        page.goto(server + "/?q=newborn+care")
        page.locator("li.result details.why > summary").first.click()  # opened parts too
        page.locator("li.result details.context > summary").first.click()
        if found := _violations(page):
            failures[f"{scheme} opened details"] = found
        page.screenshot(path=str(OUTPUT / f"axe-{scheme}.png"), full_page=True)
    page.close()
    assert not failures, json.dumps(failures, indent=1)


def test_without_javascript_the_apply_button_applies_filters(browser_context, series_server):
    context = browser_context.browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(series_server + "/?q=reading+programmes")
    page.select_option("#f-year", "2021")
    assert "year=" not in page.url  # nothing happens on change without the script
    with page.expect_navigation():
        page.click(".filters .apply")
    assert "year=2021" in page.url
    titles = page.locator("li.result .title").all_inner_texts()
    assert titles and all(t.endswith("2021") for t in titles)
    context.close()
