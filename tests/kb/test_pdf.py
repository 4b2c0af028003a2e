"""PDF text on real filings (bundled excerpts, see tests/data/filings/SOURCE.md) and generated
files: metadata, tables, running headers, encryption, scanned pages, layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fpdf import FPDF

from kb import pdf as pdf_module
from kb.chunking import chunk_document
from kb.errors import LoadError
from kb.loaders import load_document

FILINGS = Path(__file__).resolve().parent.parent / "data" / "filings"


def _words(texts):
    return [len(t.split()) for t in texts]


@pytest.mark.parametrize("name, title, year, kind, organisation", [
    ("costco-8-k-2023-08-16.pdf", "Costco Wholesale Corporation Form 8-K 2023", "2023", "current report", "Costco Wholesale Corporation"),
    ("nike-10-k-2021.pdf", "NIKE, Inc. Form 10-K FY2021", "2021", "annual report", "NIKE, Inc."),
    ("3m-10-k-2022-excerpt.pdf", "3M Company Form 10-K FY2022", "2022", "annual report", "3M Company"),
    ("ultabeauty-earnings-release-2023-q1.pdf", "Ulta Beauty Announces First Quarter Fiscal 2023 Results", "2023", "press release",
     "Ulta Beauty, Inc."),
])
def test_real_filings_get_titles_people_recognise(name, title, year, kind, organisation):
    """PDF metadata titles these files as "0000909832-23-000036", "Nike 2023 Proxy" or a
    filing number, and one creation date is years off: the text decides."""
    doc = load_document(FILINGS / name)
    assert (doc.title, doc.date[:4], doc.kind, doc.organisation) == (title, year, kind, organisation)


@pytest.mark.parametrize("name, symbols", [
    ("costco-8-k-2023-08-16.pdf", ("COST",)),  # the cover's table; the release's "(Nasdaq: COST)" repeats it
    ("nike-10-k-2021.pdf", ("NKE",)),  # "Class B Common Stock NKE New York Stock Exchange"
    ("3m-10-k-2022-excerpt.pdf", ("MMM",)),  # listed on two exchanges; its notes' "MMM26" are not the company
    ("ultabeauty-earnings-release-2023-q1.pdf", ("ULTA",)),  # a release's "(NASDAQ: ULTA)"
])
def test_a_filings_cover_gives_the_symbols_its_shares_trade_under(name, symbols):
    from kb.metadata import COVER_CHARS, trading_symbols

    assert trading_symbols(load_document(FILINGS / name).text[:COVER_CHARS]) == symbols


def test_a_cover_without_a_trading_symbol_column_gives_none():
    """Before 2019 the cover listed each class and exchange only: "SHARE" before "New York
    Stock Exchange" is no symbol; nor is anything in a text that is not a filing's cover."""
    from kb.metadata import trading_symbols

    old = ("Securities registered pursuant to Section 12(b) of the Act:\nTitle of Each Class Name of Each Exchange on "
           "Which Registered\nCOMMON STOCK, PAR VALUE $.01 PER SHARE NEW YORK STOCK EXCHANGE\n"
           "Securities registered pursuant to Section 12(g) of the Act: None")
    assert trading_symbols(old) == ()
    assert trading_symbols("UNICEF China worked with the NHC and the ACWF on positive parenting.") == ()


def test_pdfs_encrypted_with_an_empty_password_open():
    from pypdf import PdfReader

    for name in ("costco-8-k-2023-08-16.pdf", "nike-10-k-2021.pdf"):
        assert PdfReader(FILINGS / name).is_encrypted  # the fixture really is encrypted
        doc = load_document(FILINGS / name)
        assert len(doc.text) > 4_000 and doc.pages == {"costco-8-k-2023-08-16.pdf": 3, "nike-10-k-2021.pdf": 109}[name]


def test_a_password_protected_pdf_fails_clearly(tmp_path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(FILINGS / "ultabeauty-earnings-release-2023-q1.pdf"))
    writer.encrypt("secret", algorithm="RC4-128")  # AES would need pypdf[crypto]
    path = tmp_path / "locked.pdf"
    with open(path, "wb") as fh:
        writer.write(fh)
    with pytest.raises(LoadError, match="encrypted: needs a password"):
        load_document(path)


def test_a_statement_row_stays_one_line_under_its_title_and_columns():
    doc = load_document(FILINGS / "3m-10-k-2022-excerpt.pdf")
    chunks = chunk_document(doc, _words, max_tokens=254, target=200, overlap=32)
    row = "Purchases of property, plant and equipment (PP&E) (1,749) (1,603) (1,501)"
    holding = [c for c in chunks if row in c.text.split("\n")]
    assert len(holding) == 1
    table = holding[0]
    assert table.context and "Consolidated Statement of Cash Flows" in table.context and "2022 2021 2020" in table.context
    assert table.clean.startswith(table.context)
    assert table.page == 6  # the statement's page in the excerpt


def test_a_tables_caption_is_in_its_context():
    """The short lines just above a table's first row, not set as headings ("Cash Flows from
    Operating Activities:"), name what its rows are: a question asking for operating cash
    flow finds them by it. (The caption was read from the wrong end of its range, so it was
    always empty.)"""
    doc = load_document(FILINGS / "3m-10-k-2022-excerpt.pdf")
    contexts = {b.context for b in doc.blocks if b.kind == "table" and b.page in (3, 4)}
    for caption in ("Cash Flows from Operating Activities:", "Cash Flows from Investing Activities:",
                    "Cash Flows from Financing Activities:"):
        assert any(c and caption in c for c in contexts), (caption, contexts)


def test_running_headers_and_page_numbers_stay_out_of_passages():
    doc = load_document(FILINGS / "3m-10-k-2022-excerpt.pdf")
    assert "Table of Contents" not in doc.text  # atop every page of the filing
    lines = [ln.strip() for ln in doc.text.splitlines()]
    assert not [ln for ln in lines if re.fullmatch(r"\d{1,3}", ln)]  # no page number stands alone


def test_column_headings_set_one_word_a_line_are_in_the_tables_context(tmp_path):
    """Bug: Nike's revenue table sets its column headings one word a line ("FISCAL" / "2023" /
    "FISCAL" / "2022" / "% CHANGE"), and only the three lines above its first row were read as
    its caption: the rows ("Footwear $ 33,135 $ 29,143 14 %") were indexed without the years
    they are of, and "Nike footwear revenue fiscal 2023" ranked them 16th."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    lines = ["Revenues grew in every product line during the year.", "(Dollars in millions)", "FISCAL", "2023", "FISCAL",
             "2022", "% CHANGE", "NIKE, Inc. Revenues:", "NIKE Brand Revenues by:", "Footwear $ 33,135 $ 29,143 14 %",
             "Apparel 13,843 13,567 2 %", "Equipment 1,727 1,624 6 %", "Total NIKE Brand Revenues $ 48,705 $ 44,334 10 %"]
    for line in lines:
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(tmp_path / "t.pdf"))
    doc = load_document(tmp_path / "t.pdf")
    table, = [b for b in doc.blocks if b.kind == "table"]
    assert doc.text[table.start:table.end].startswith("Footwear $ 33,135")
    assert table.context and "FISCAL 2023 FISCAL 2022 % CHANGE" in table.context and "NIKE Brand Revenues by:" in table.context
    assert "grew in every product line" not in table.context  # a sentence above is no heading


def test_a_word_hyphenated_across_lines_is_joined(tmp_path):
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    for line in ["Report on child welfare", "", "The programme strengthened the protec-", "tion of children online and offline."]:
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(tmp_path / "h.pdf"))
    text = load_document(tmp_path / "h.pdf").text
    assert "protection of children" in text and "protec-" not in text


def test_a_compound_broken_at_a_line_end_keeps_its_hyphen(tmp_path):
    """Joining a word hyphenated across a line ("protec-" / "tion") also joined compounds that
    break at their own hyphen: "write-" / "downs" became "writedowns", which "write-downs" never
    matched. A compound the document writes with its hyphen elsewhere keeps it."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    for line in ["Inventory report", "", "Write-downs were recorded in the second quarter for slow stock.",
                 "Lower demand may result in inventory write-", "downs, and the protec-", "tion of margins matters."]:
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(tmp_path / "w.pdf"))
    text = load_document(tmp_path / "w.pdf").text
    assert "inventory write-downs, and the protection of margins" in " ".join(text.split())


def test_a_compound_written_nowhere_else_keeps_its_hyphen_when_its_halves_are_words(tmp_path):
    """A 10-K breaks "equity-" / "method" at its own hyphen and writes "equity-method" nowhere
    else; it became "equitymethod", a word no question holds. When neither the pair nor the
    joined word is written elsewhere, and both halves are words the document writes on their
    own (not stop words), the hyphen is the document's. A typeset word ("pro-" / "cessing",
    "com-" / "munication") has a half that is no word of the document and is joined again, as
    is one the document also writes whole ("re-" / "port" beside "report") and one with a
    stop word for a half ("an-" / "other", though "an" and "other" are written)."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    for line in ["Investments report", "", "The method used depends on an equity held and the other report it serves.",
                 "Investments accounted for under the equity-", "method, the pro-", "cessing of the re-",
                 "port and com-", "munication with investors are described in an-", "other note."]:
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(tmp_path / "e.pdf"))
    text = " ".join(load_document(tmp_path / "e.pdf").text.split())
    assert "under the equity-method, the processing of the report and communication with investors are described in another note" in text


def test_two_columns_are_read_left_then_right(tmp_path):
    """The right column is drawn first; reading order is still the left column, then the right."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    left = [f"Left column line {i} about water and sanitation." for i in range(12)]
    right = [f"Right column line {i} about schools and teachers." for i in range(12)]
    for x, lines in ((110, right), (10, left)):
        for i, line in enumerate(lines):
            pdf.set_xy(x, 20 + i * 6)
            pdf.cell(90, 6, line)
    pdf.output(str(tmp_path / "cols.pdf"))
    text = load_document(tmp_path / "cols.pdf").text
    order = [int(m.group(2)) + (100 if m.group(1) == "Right" else 0) for m in re.finditer(r"(Left|Right) column line (\d+)", text)]
    assert order == sorted(order) and len(order) == 24


def test_a_title_repeated_atop_every_page_is_still_the_title(tmp_path):
    """A report's name is often its running header too; dropping running lines must not cost
    the cover its title (the Shared MIME-info spec was titled by its author line)."""
    pdf = FPDF()
    for page in range(5):
        pdf.add_page()
        pdf.set_font("helvetica", size=9)
        pdf.cell(0, 6, "Water and Sanitation Review", new_x="LMARGIN", new_y="NEXT")
        if page == 0:
            pdf.set_font("helvetica", size=24)
            pdf.cell(0, 14, "Water and Sanitation Review", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("helvetica", size=15)
            pdf.cell(0, 9, "Regional Office for Eastern Africa", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)
        for _ in range(4):
            pdf.multi_cell(0, 6, f"Section {page}: wells were dug and latrines built in rural schools. " * 3,
                           new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(tmp_path / "review.pdf"))
    doc = load_document(tmp_path / "review.pdf")
    assert doc.title == "Water and Sanitation Review"
    assert doc.text.count("Water and Sanitation Review") == 0  # still no running header in the text


def test_a_heading_wrapped_onto_two_lines_is_one_heading(tmp_path):
    """A filing's "ITEM 7. MANAGEMENT'S DISCUSSION AND ANALYSIS OF" / "FINANCIAL CONDITION AND
    RESULTS OF OPERATIONS" was two headings: the section was named by its second half, and the
    first stood alone at the end of the section before it."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", style="B", size=26)
    pdf.cell(0, 14, "Example Corp Annual Report", new_x="LMARGIN", new_y="NEXT")
    for heading, body in (("Item 6. Selected Data", "Revenue grew in each of the last five years."),
                          ("Item 7. Management's Discussion and Analysis of|Financial Condition and Results of Operations",
                           "Revenues rose 19% to $44.5 billion, led by footwear sales in North America.")):
        pdf.set_font("helvetica", style="B", size=15)
        for line in heading.split("|"):
            pdf.cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)
        pdf.ln(3)
        for _ in range(3):
            pdf.multi_cell(0, 6, body * 2, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(6)
    pdf.output(str(tmp_path / "tenk.pdf"))
    doc = load_document(tmp_path / "tenk.pdf")
    chunks = chunk_document(doc, _words, max_tokens=254, target=200, overlap=0)
    assert [c.section for c in chunks] == ["Item 6. Selected Data",
                                           "Item 7. Management's Discussion and Analysis of Financial Condition and Results of Operations"]
    assert "Analysis of" not in chunks[0].text


def test_headings_come_from_the_outline(tmp_path):
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for title, body in (("Child Health", "Nurses were trained in newborn care."), ("Education", "Teachers were trained.")):
        pdf.add_page()
        if title == "Child Health":
            pdf.set_font("helvetica", size=24)
            pdf.cell(0, 12, "Annual Programme Report", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("helvetica", size=11)
        pdf.start_section(title)
        pdf.cell(0, 6, title, new_x="LMARGIN", new_y="NEXT")
        for _ in range(3):
            pdf.multi_cell(0, 6, body * 3, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(tmp_path / "outline.pdf"))
    doc = load_document(tmp_path / "outline.pdf")
    assert doc.title == "Annual Programme Report"  # the cover's largest text
    chunks = chunk_document(doc, _words, max_tokens=254, target=200, overlap=0)
    assert {(c.section, c.page) for c in chunks} == {("Child Health", 1), ("Education", 2)}


def _scanned_pdf(path: Path, text_page: bool = False) -> Path:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (1700, 700), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=56)
    for i, line in enumerate(["Annual Water Report", "Wells were dug in four provinces.", "Pumps were repaired."]):
        draw.text((80, 80 + i * 150), line, fill=0, font=font)
    image.save(path.with_suffix(".png"))
    pdf = FPDF()
    if text_page:
        pdf.add_page()
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(0, 6, "This page has a text layer about sanitation in schools.")
    pdf.add_page()
    pdf.image(str(path.with_suffix(".png")), x=10, y=10, w=190)
    pdf.output(str(path))
    return path


def test_a_scanned_page_is_read_by_ocr(tmp_path):
    assert pdf_module.ocr_available(), "tesseract-ocr is installed by the Makefile"
    doc = load_document(_scanned_pdf(tmp_path / "scan.pdf"))
    assert "Wells were dug in four provinces" in " ".join(doc.text.split())
    assert doc.warnings == ("read by OCR: page 1",)


def test_without_ocr_scanned_pages_are_reported_never_silently_empty(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf_module, "ocr_available", lambda: False)
    with pytest.raises(LoadError, match=r"no text layer on page 1 \(install tesseract-ocr"):
        load_document(_scanned_pdf(tmp_path / "scan.pdf"))
    doc = load_document(_scanned_pdf(tmp_path / "mixed.pdf", text_page=True))
    assert "sanitation in schools" in doc.text
    assert doc.warnings == ("no text layer on page 2 (install tesseract-ocr to read scanned pages)",)


def test_ocr_keeps_paragraph_breaks(tmp_path):
    """A blank line in Tesseract's output (a paragraph break) leaves a gap between the lines
    around it, so a scanned page keeps its paragraphs."""
    doc = load_document(_scanned_pdf(tmp_path / "scan.pdf"))
    paragraphs = [" ".join(doc.text[b.start:b.end].split()) for b in doc.blocks]
    assert any("Wells were dug" in p for p in paragraphs) and not any("Wells were dug" in p and "Pumps" in p for p in paragraphs)
