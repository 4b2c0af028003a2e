"""Tables read as tables, and a PDF page as printed with the passage marked on it (a real
earnings release, real PDFium, real model)."""

from __future__ import annotations

import html as entities
import io
import re
import shutil
from pathlib import Path

import pytest

from kb import KnowledgeBase, Settings
from webapp import create_app

FILINGS = Path(__file__).resolve().parents[1] / "data" / "filings"
ULTA = "ultabeauty-earnings-release-2023-q1.pdf"


@pytest.fixture(scope="module")
def pdf_kb(tmp_path_factory) -> KnowledgeBase:
    folder = tmp_path_factory.mktemp("pdf-files")
    shutil.copy(FILINGS / ULTA, folder)
    (folder / "regions.html").write_text(
        "<html><head><title>Regional results</title></head><body><h1>Regional results</h1>"
        "<p>Sales grew in every region in 2023, most in the north, as the table shows.</p>"
        "<table><tr><th>Region</th><th>2022</th><th>2023</th></tr>"
        "<tr><td>North</td><td>1,200</td><td>1,450</td></tr>"
        "<tr><td>South</td><td>980</td><td>1,010</td></tr></table></body></html>", encoding="utf-8")
    kb = KnowledgeBase(Settings.load(env={}, home=tmp_path_factory.mktemp("pdf-home")))
    report = kb.ingest([folder])
    assert not report.failed and len(report.added) == 2
    return kb


@pytest.fixture(scope="module")
def pdf_client(pdf_kb):
    return create_app({"KB_SETTINGS": pdf_kb.settings, "TESTING": True}).test_client()


def _doc(kb, fmt):
    return next(d for d in kb.documents() if d.format == fmt)


def test_a_pdfs_tables_read_as_tables(pdf_kb, pdf_client):
    doc = _doc(pdf_kb, "pdf")
    table = pdf_kb.search("Ulta Beauty net sales comparable sales diluted earnings per share", k=3, min_score=0)
    hit = next(r for r in table if "Diluted earnings per share" in r.passage.text)
    page = pdf_client.get(f"/documents/{doc.id}/read?p={hit.passage.id}").get_data(as_text=True)
    assert '<table class="data">' in page
    assert '<tr class="passage"><th scope="row">Net sales</th><td>$ 2,634.3</td><td>$ 2,345.9</td></tr>' in page
    assert f'<span class="anchor" id="p-{hit.passage.id}">' in page  # the reader still opens at it


def test_an_html_table_keeps_its_cells(pdf_kb, pdf_client):
    doc = _doc(pdf_kb, "html")
    page = pdf_client.get(f"/documents/{doc.id}/read").get_data(as_text=True)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S)
    cells = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row) for row in rows]
    assert ["North", "1,200", "1,450"] in cells and ["Region", "2022", "2023"] in cells


def _yellow(png: bytes) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(1 for r, g, b in image.getdata() if r > 200 and g > 170 and b < 140)


def test_a_pdf_page_as_printed_with_the_passage_marked(pdf_kb, pdf_client):
    doc = _doc(pdf_kb, "pdf")
    hit = next(r for r in pdf_kb.search("net income increased to $347.1 million", k=5, min_score=0)
               if r.occurrence.page)
    results = pdf_client.get("/?q=net+income+increased+to+%24347.1+million").get_data(as_text=True)
    link = entities.unescape(re.search(r'href="([^"]+)">Page image</a>', results).group(1))
    assert link.startswith(f"/documents/{doc.id}/pages/")
    view = pdf_client.get(link).get_data(as_text=True)
    assert "<h1>" in view and "shaded in yellow" in view and 'rel="next"' in view
    source = entities.unescape(re.search(r'<img src="([^"]+)"', view).group(1))
    marked = pdf_client.get(source)
    assert marked.status_code == 200 and marked.mimetype == "image/png"
    plain = pdf_client.get(source.split("?")[0])
    assert marked.data.startswith(b"\x89PNG") and plain.data.startswith(b"\x89PNG")
    assert _yellow(marked.data) > _yellow(plain.data) + 2000  # the passage's lines are shaded
    cached = sorted((pdf_kb.home / "cache" / "pages").glob("*.png"))
    assert len(cached) == 2
    before = [p.stat().st_mtime_ns for p in cached]
    assert pdf_client.get(source).data == marked.data  # from the cache, not rendered again
    assert [p.stat().st_mtime_ns for p in cached] == before
    assert hit.occurrence.page == int(link.split("/pages/")[1].split("?")[0])


def test_page_images_refuse_what_they_cannot_show(pdf_kb, pdf_client):
    pdf, html = _doc(pdf_kb, "pdf"), _doc(pdf_kb, "html")
    assert pdf_client.get(f"/documents/{pdf.id}/pages/{pdf.pages + 1}.png").status_code == 400
    assert pdf_client.get(f"/documents/{pdf.id}/pages/0").status_code in (400, 404)
    assert pdf_client.get(f"/documents/{pdf.id}/pages/1.png?p=../../etc").status_code == 400
    assert pdf_client.get(f"/documents/{pdf.id}/pages/1.png?p={'0' * 16}").status_code == 404
    assert pdf_client.get(f"/documents/{html.id}/pages/1").status_code == 404
    assert pdf_client.get(f"/documents/{html.id}/pages/1.png").status_code == 404


def test_the_answer_card_quotes_the_table_row_that_answers(pdf_client):
    page = pdf_client.get("/?q=Ulta+Beauty+diluted+earnings+per+share+first+quarter+2023").get_data(as_text=True)
    quote = entities.unescape(re.search(r'<p class="quote">(.*?)</p>', page, re.S).group(1))
    lines = quote.splitlines()
    assert lines[-1] == "Diluted earnings per share $ 6.88 $ 6.30"  # the row, under its column headings
    assert len(lines) == 2 and "2023 2022" in lines[0] and "Net sales" not in quote
