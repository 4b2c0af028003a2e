"""The search page in a real browser: Debian's Chromium driven by Playwright, against `kb serve`."""

from pathlib import Path

import pytest

from .test_server import server  # noqa: F401  (the real waitress server fixture)

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[1] / "output"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "make test installs Debian's chromium; run it through make"
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
            headless=True, args=FLAGS,
        )
        page = context.new_page()
        yield page
        context.close()


def test_type_a_question_and_read_the_answer(page, server):  # noqa: F811
    OUTPUT.mkdir(exist_ok=True)
    page.goto(server + "/")
    page.fill("#q", "what was done on online child protection")
    page.keyboard.press("Enter")
    page.wait_for_selector("li.result")
    first = page.locator("li.result").first
    assert "Regulations on Minors’ Online Protection" in first.locator("mark").first.inner_text()
    assert "UNICEF China 2023 Annual Report" in first.locator(".title").inner_text()
    assert "q=what+was+done+on+online+child+protection" in page.url
    page.screenshot(path=str(OUTPUT / "search-results.png"), full_page=True)


def test_markup_in_the_query_is_inert(page, server):  # noqa: F811
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(server + "/")
    page.fill("#q", '"><img src=x onerror=alert(1)><script>alert(2)</script>')
    page.keyboard.press("Enter")
    page.wait_for_load_state("load")
    assert page.input_value("#q").startswith('"><img')
    assert page.locator("img").count() == 0 and dialogs == []
