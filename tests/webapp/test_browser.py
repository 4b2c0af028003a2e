"""The search page in a real browser: Debian's Chromium driven by Playwright, against `kb serve`.

Screenshots of the main states are saved under tests/output/ to be looked at.
"""

from pathlib import Path

import pytest

from kb import KnowledgeBase

from .test_server import server  # noqa: F401  (the real waitress server fixture)

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[1] / "output"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ONLINE = "what was done on online child protection"
SECTION = "Protection from violence, exploitation, abuse and neglect, for every child"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser_context():
    """A fresh Chromium and one browsing context (Playwright gives each launch a new, empty
    profile folder of its own)."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "make test installs Debian's chromium; run it through make"
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      permissions=["clipboard-read", "clipboard-write"])
        context.set_default_timeout(30_000)
        yield context
        browser.close()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    yield page
    page.close()


def _search(page, server, query):  # noqa: F811
    page.goto(server + "/")
    page.fill("#q", query)
    with page.expect_navigation():  # the form submission, not the page already loaded
        page.keyboard.press("Enter")


def test_type_a_question_and_read_the_answer(page, server):  # noqa: F811
    _search(page, server, ONLINE)
    first = page.locator("li.result").first
    marks = " ".join(first.locator("mark").all_inner_texts())  # the sentences that answer, marked in the passage
    assert "Regulations on Minors’ Online Protection" in marks and "To protect children online" in marks
    assert "UNICEF China 2023 Annual Report" in first.locator(".title").inner_text()
    assert first.locator(".match").inner_text() in ("strong match", "partial match")
    assert "q=what+was+done+on+online+child+protection" in page.url
    page.screenshot(path=str(OUTPUT / "search-results.png"), full_page=True)


def test_expand_context_and_why_in_place(page, server):  # noqa: F811
    _search(page, server, ONLINE)
    first = page.locator("li.result").first
    around = first.locator(".context .around").first
    assert not around.is_visible()
    first.locator(".context summary").click()
    assert around.is_visible() and around.inner_text().strip()
    first.locator(".why > summary").click()
    words = first.locator(".why-words").inner_text()
    assert words.startswith("It contains ") and "cosine" not in words and "BM25" not in words  # plain words first
    first.locator(".why .numbers summary").click()
    assert "Matched words" in first.locator(".why").inner_text()  # the numbers behind a toggle
    page.screenshot(path=str(OUTPUT / "context-open.png"), full_page=True)


def test_apply_a_filter_and_see_the_facets(page, server):  # noqa: F811
    _search(page, server, "children")
    with page.expect_navigation():  # a filter applies as soon as it is chosen
        page.select_option("#f-section", SECTION)
    assert "section=Protection+from+violence" in page.url
    sections = page.locator("li.result .section").all_inner_texts()
    assert sections and all(s == SECTION for s in sections)
    assert "UNICEF China 2023 Annual Report" in page.locator(".facets").inner_text()
    page.screenshot(path=str(OUTPUT / "filtered.png"), full_page=True)


def test_page_forward_and_back(page, server):  # noqa: F811
    page.goto(server + "/?q=children&k=2")
    with page.expect_navigation():
        page.click("a[rel=next]")
    assert "page=2" in page.url and page.locator("li.result").first.get_attribute("id") == "r3"
    page.go_back(wait_until="load")
    assert page.locator("li.result").first.get_attribute("id") == "r1"


def test_keyboard_only(page, server):  # noqa: F811
    page.goto(server + "/?q=" + ONLINE.replace(" ", "+"))
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.press("Escape")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.id") == "r1"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.id") == "r2"
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.id") == "r1"
    page.screenshot(path=str(OUTPUT / "keyboard-focus.png"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/read?p=" in page.url and "748,000 health professionals" in page.inner_text("body")
    # the reader opens at the passage: marked, and on screen
    marked = page.locator("mark").first
    box, height = marked.bounding_box(), page.viewport_size["height"]
    assert marked.is_visible() and box is not None and 0 <= box["y"] < height
    page.screenshot(path=str(OUTPUT / "reader-at-passage.png"))


def test_copy_a_citation(page, server):  # noqa: F811
    _search(page, server, ONLINE)
    button = page.locator("li.result").first.locator("button.copy").first
    button.click()
    page.wait_for_function("document.querySelector('li.result button.copy').textContent === 'Copied'")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("“") and "” UNICEF China 2023 Annual Report, " in copied and "2024-04-19" in copied
    assert "/documents/" in copied and "/read?p=" in copied
    quote = copied[1:copied.index("”")]
    assert quote.split()[0] in page.locator("li.result").first.inner_text()  # the quote is the result's own words
    page.locator("li.result").first.locator("button.copy", has_text="BibTeX").click()
    page.wait_for_function("navigator.clipboard.readText().then(t => t.startsWith('@report'))")
    bib = page.evaluate("navigator.clipboard.readText()")
    assert "title = {UNICEF China 2023 Annual Report}" in bib and "url = {" in bib


def test_click_feedback(page, server, sample_settings):  # noqa: F811
    before = KnowledgeBase(sample_settings).feedback.count()
    _search(page, server, ONLINE)
    first = page.locator("li.result").first
    passage = first.locator("input[name=passage]").get_attribute("value")
    first.locator(".feedback button[value='1']").click()
    page.wait_for_selector("li.result .thanks")
    assert "Thank you" in first.locator(".feedback").inner_text()
    log = KnowledgeBase(sample_settings).feedback
    assert before <= log.count() <= before + 1  # one vote per voter: a repeat from an earlier test replaces
    assert log.judgments()[" ".join(ONLINE.lower().split())][passage] == 1


def test_no_good_match_says_so(page, server):  # noqa: F811
    _search(page, server, "quantum chromodynamics of zebra xylophones")
    assert page.locator("li.result").count() == 0
    assert "No passage matched" in page.locator(".empty").inner_text()
    page.screenshot(path=str(OUTPUT / "no-match.png"), full_page=True)


def test_documents_view_phone_and_dark(page, server):  # noqa: F811
    page.goto(server + "/documents")
    with page.expect_navigation():
        page.click("text=UNICEF China 2023 Annual Report")
    assert "Sections" in page.inner_text("main")
    page.screenshot(path=str(OUTPUT / "document.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    page.goto(server + "/?q=" + ONLINE.replace(" ", "+"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways scroll
    page.screenshot(path=str(OUTPUT / "phone-dark.png"), full_page=True)


def test_markup_in_the_query_is_inert(page, server):  # noqa: F811
    page.add_init_script("window.__alerts = []; window.alert = m => window.__alerts.push(String(m));")
    _search(page, server, '"><img src=x onerror=alert(1)><script>alert(2)</script>')
    assert page.input_value("#q").startswith('"><img')
    assert page.locator("img").count() == 0 and page.evaluate("window.__alerts") == []
