import docx
import pytest
from fpdf import FPDF

from kb.errors import LoadError
from kb.loaders import load_document

from ..conftest import SAMPLE


def _sections(doc):
    from kb.structure import sections

    return [(section, doc.text[b.start:b.end]) for b, section in sections(doc.text, doc.blocks, doc.title)]


def test_sample_report_structure():
    doc = load_document(SAMPLE)
    assert doc.title == "UNICEF China 2023 Annual Report"
    assert doc.date == "2024-04-19"
    heads = [doc.text[b.start:b.end] for b in doc.blocks if b.kind == "heading"]
    assert heads == [
        "A YEAR OF PROGRESS FOR CHILDREN IN CHINA AND BEYOND",
        "Protection from violence, exploitation, abuse and neglect, for every child",
        "A YEAR OF PROGRESS FOR CHILDREN IN CHINA AND BEYOND",
    ]
    assert all("19 April 2024" not in text for _, text in _sections(doc))


def test_no_line_of_plain_text_is_lost_as_a_heading_of_nothing(tmp_path):
    """Bug: a Chinese sentence ending in "。" (no full stop kb knew) read as a heading, and a
    heading with no text after it, at the end of a document, was in no passage: the report's
    one sentence could not be found. A last line without a full stop (a web address) was lost
    the same way."""
    path = tmp_path / "report-cn.txt"
    path.write_text("联合国儿童基金会年度报告\n\n2023年，儿童保护工作取得进展，在线保护标准发布。\n", encoding="utf-8")
    doc = load_document(path)
    assert [t for _, t in _sections(doc)] == ["联合国儿童基金会年度报告", "2023年，儿童保护工作取得进展，在线保护标准发布。"]

    path = tmp_path / "note.txt"
    path.write_text("Water results\n\nWells were dug in 40 villages and pumps were repaired.\n\n"
                    "For more information visit www.example.org\n", encoding="utf-8")
    texts = [t for _, t in _sections(load_document(path))]
    assert texts[-1] == "For more information visit www.example.org"

    # a heading followed by another of its level heads nothing: Microsoft's cover printed its
    # commission file number and the notes it lists on Nasdaq as headings, in no passage. It is
    # text of the section it stands just before
    path = tmp_path / "cover.txt"
    path.write_text("Annual Report\n\nCommission File Number 001-37845\n\n3.125% Notes due 2028 MSFT NASDAQ\n\n"
                    "Securities registered pursuant to Section 12(g): None.\n", encoding="utf-8")
    notes = "3.125% Notes due 2028 MSFT NASDAQ"
    assert _sections(load_document(path)) == [
        (notes, "Commission File Number 001-37845"), (notes, "Securities registered pursuant to Section 12(g): None.")]


def test_markdown_front_matter_and_heading_levels(tmp_path):
    path = tmp_path / "r.md"
    path.write_text("---\ntitle: Field Report\ndate: 2023-05-02\n---\n# Field Report\n\n## Water\n\nWells were dug.\n\n### Rural\n\nPumps fixed.\n\n## Health\n\nClinics.\n")
    doc = load_document(path)
    assert (doc.title, doc.date, doc.format) == ("Field Report", "2023-05-02", "markdown")
    assert _sections(doc) == [("Water", "Wells were dug."), ("Water > Rural", "Pumps fixed."), ("Health", "Clinics.")]


def test_markdown_code_blocks_and_underlined_headings(tmp_path):
    """Bug: a "#" comment inside a fenced code block was read as a heading (a README's
    passages sat under "Or use an existing sandbox by name"), and a blank line split the code
    into paragraphs; a setext heading ("Results" over "=======") was not read at all."""
    path = tmp_path / "guide.md"
    path.write_text(
        "# Field Guide\n\n## Setup\n\nInstall the tool first.\n\n```bash\n# Or use an existing sandbox by name\n"
        "pip install tool\n\n# then start it\ntool start\n```\n\nThen run it\n\n"
        "Results\n=======\n\nWells were dug in 40 villages.\n\nCaveats\n-------\n\nData are provisional.\n",
        encoding="utf-8")
    doc = load_document(path)
    assert doc.title == "Field Guide"
    code = "```bash\n# Or use an existing sandbox by name\npip install tool\n\n# then start it\ntool start\n```"
    assert _sections(doc) == [("Setup", "Install the tool first."), ("Setup", code), ("Setup", "Then run it"),
                              ("Results", "Wells were dug in 40 villages."),
                              ("Results > Caveats", "Data are provisional.")]


def test_a_markdown_pipe_table_is_a_table_under_its_header(tmp_path):
    """A Markdown table was a paragraph: one blob with its |---| line, its header in no
    context, its rows never a highlight of their own."""
    from index.analysis import Analyzer
    from kb.chunking import chunk_document
    from kb.highlight import Sentences

    path = tmp_path / "results.md"
    path.write_text("# Programme Results 2023\n\n## Immunization\n\nCoverage rose in every province.\n"
                    "| Province | Children vaccinated | Coverage |\n|---|---:|---:|\n| Yunnan | 120,400 | 94% |\n"
                    "| Guizhou | 98,250 | 91% |\n\n## Education\n\nTeachers were trained in 40 counties.\n", encoding="utf-8")
    doc = load_document(path)
    (table,) = [b for b in doc.blocks if b.kind == "table"]
    assert table.context == "Province | Children vaccinated | Coverage"
    assert doc.text[table.start:table.end].splitlines()[-1] == "| Guizhou | 98,250 | 91% |"
    assert ("Immunization", "Coverage rose in every province.") in _sections(doc)
    chunks = chunk_document(doc, lambda texts: [len(t.split()) for t in texts], max_tokens=254)
    rows = next(c for c in chunks if "Guizhou" in c.text)
    assert "---" not in rows.clean and rows.clean.startswith("Province | Children vaccinated | Coverage")
    (sentences, _), = Sentences()([rows.text], Analyzer())
    assert "| Guizhou | 98,250 | 91% |" in sentences


def test_html_drops_scripts_and_navigation(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Annual Results</title><meta name='date' content='2022-03-01'>"
        "<script>var secret = 1;</script></head><body><nav>Home | About</nav>"
        "<h1>Annual Results</h1><h2>Nutrition</h2><p>Children were fed &amp; weighed.</p>"
        "<ul><li>Item <b>one</b>.</li></ul><footer>Copyright</footer></body></html>"
    )
    doc = load_document(path)
    assert (doc.title, doc.date) == ("Annual Results", "2022-03-01")
    assert _sections(doc) == [("Nutrition", "Children were fed & weighed."), ("Nutrition", "Item one.")]
    assert "secret" not in doc.text and "Home | About" not in doc.text and "Copyright" not in doc.text


def make_pdf(path, pages, title=None):
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("helvetica", size=11)
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.multi_cell(0, 6, line)
            pdf.ln(4)
    pdf.output(str(path))
    return path


def test_pdf_keeps_pages(tmp_path):
    path = make_pdf(tmp_path / "r.pdf", [["Water Report", "Wells were dug in four provinces."], ["Pumps were repaired in 2023."]], title="Water Report 2023")
    doc = load_document(path)
    assert (doc.title, doc.format, doc.pages) == ("Water Report 2023", "pdf", 2)
    pages = {doc.text[b.start:b.end]: b.page for b in doc.blocks if b.kind == "text"}
    assert pages["Wells were dug in four provinces."] == 1
    assert pages["Pumps were repaired in 2023."] == 2


def test_docx_headings_and_tables(tmp_path):
    d = docx.Document()
    d.add_heading("Country Report", level=0)
    d.add_heading("Education", level=1)
    d.add_paragraph("Teachers were trained.")
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Schools", "120"
    d.save(tmp_path / "r.docx")
    doc = load_document(tmp_path / "r.docx")
    assert doc.title == "Country Report"
    assert _sections(doc) == [("Education", "Teachers were trained."), ("Education", "Schools | 120")]


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("broken.pdf", b"%PDF-1.4\n this is not really a pdf", "not a readable PDF"),
        ("broken.docx", b"PK\x03\x04 not a zip", "not a readable docx"),
        ("empty.txt", b"   \n", "empty"),
        ("photo.png", b"\x89PNG", "unsupported file type"),
        ("dates.txt", b"19 April 2024\n", "no text found"),
    ],
)
def test_bad_files_raise_a_clear_load_error(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        load_document(path)


def test_html_main_text_in_divs_and_header_is_kept(tmp_path):
    """Bug: text directly inside <div>s, and the <header> with the page's <h1> and <time>,
    were dropped."""
    path = tmp_path / "story.html"
    path.write_text(
        "<html><head><title>Site | News</title></head><body><nav><a href='/'>Home</a> <a href='/about'>About us</a></nav>"
        "<header><h1>Clean water for every school</h1><time datetime='2023-05-04'>4 May 2023</time></header>"
        "<div class='content'><div>In 2023 the programme brought clean water to 1,200 schools across three provinces, "
        "reaching 400,000 children in rural areas.</div><h2>Sanitation</h2><div>Handwashing stations were installed in "
        "800 schools, and teachers were trained in hygiene education for pupils.</div>"
        "<table><tr><th>Province</th><th>Schools</th></tr><tr><td>Yunnan</td><td>500</td></tr></table></div>"
        "<footer>Copyright 2023 Water Org. Privacy policy.</footer></body></html>", encoding="utf-8")
    doc = load_document(path)
    assert (doc.title, doc.date) == ("Clean water for every school", "2023-05-04")
    assert "1,200 schools across three provinces" in doc.text and "Handwashing stations" in doc.text
    assert "About us" not in doc.text and "Privacy policy" not in doc.text
    sections = _sections(doc)
    assert ("Sanitation", "Province | Schools\nYunnan | 500") in [(s, t) for s, t in sections]


def test_a_page_of_several_top_headings_is_titled_by_its_title_element(tmp_path):
    """Bug: documentation built by Sphinx (three <h1>s, each ending in a "¶" permalink) was
    titled "Abstract¶", and a page with no <h1> by its first <h2>, not by its <title>; the
    permalink sign also stood in every section's name."""
    path = tmp_path / "policy.html"
    link = "<a class='headerlink' href='#x' title='Permalink to this heading'>\u00b6</a>"
    path.write_text(
        "<html><head><title>Debian Python Policy 0.12.0.0 documentation</title></head><body><div class='body'>"
        f"<h1>Abstract{link}</h1><p>This document describes the packaging of Python modules and the policy for "
        "maintaining the interpreter in the distribution, for maintainers of packages.</p>"
        f"<h1>Contents{link}</h1><h2>Python Packaging{link}</h2><p>Packages that install modules for every supported "
        "version of the interpreter must depend on the versions they were built for, and be rebuilt when one changes.</p>"
        f"<h1>Indices and tables{link}</h1><p>The index lists every term defined in this policy with its section.</p>"
        "</div></body></html>", encoding="utf-8")
    doc = load_document(path)
    assert doc.title == "Debian Python Policy 0.12.0.0 documentation"
    assert "\u00b6" not in doc.text and all("\u00b6" not in (s or "") for s, _ in _sections(doc))
    assert ("Contents > Python Packaging", ) == tuple(s for s, t in _sections(doc) if "rebuilt" in t)

    path = tmp_path / "lib.html"
    path.write_text(
        "<html><head><title>Underscore.js</title></head><body>"
        "<h2>Downloads <i>(Right-click, and use Save As)</i></h2><p>The development version is unminified and "
        "has plenty of comments, while the production version is minified and compressed for the web.</p>"
        "<h2>Collection Functions</h2><p>each iterates over a list of elements, yielding each in turn to an "
        "iteratee function that is called with three arguments.</p></body></html>", encoding="utf-8")
    assert load_document(path).title == "Underscore.js"


def test_docx_tables_stay_in_place_under_their_section(tmp_path):
    """Bug: every table went to the end of the document, under the last section."""
    d = docx.Document()
    d.add_heading("Country Report", level=0)
    d.add_heading("Health", level=1)
    table = d.add_table(rows=2, cols=2)
    for r, row in enumerate([("Indicator", "2023"), ("Nurses trained", "748,000")]):
        for c, value in enumerate(row):
            table.rows[r].cells[c].text = value
    d.add_heading("Education", level=1)
    d.add_paragraph("Teachers were trained.")
    d.save(tmp_path / "r.docx")
    doc = load_document(tmp_path / "r.docx")
    assert _sections(doc) == [("Health", "Indicator | 2023\nNurses trained | 748,000"), ("Education", "Teachers were trained.")]
    table_block = next(b for b in doc.blocks if b.kind == "table")
    assert table_block.context == "Health · Indicator | 2023"


def test_an_office_files_creation_date_counts_only_where_its_text_allows_it(tmp_path):
    """Bug: a Word report on 2022 was dated 2013-12-23, the creation date of the template it
    was made from (every file python-docx writes carries it). As a PDF's creation date, an
    Office file's is believed only within a year and a half after the latest year its text names."""
    from datetime import datetime

    for created, expected in ((None, None), (datetime(2023, 2, 1), "2023-02-01")):
        d = docx.Document()
        d.add_heading("Country Office Annual Report 2022", level=0)
        d.add_paragraph("In 2022, 1.2 million children were vaccinated against measles.")
        if created is not None:
            d.core_properties.created = created
        d.save(tmp_path / "report.docx")
        assert load_document(tmp_path / "report.docx").date == expected


def test_docx_text_boxes_are_read_once(tmp_path):
    """Bug: a text box (a report's call-out of a key figure) was never read: its paragraphs sit
    inside a run's drawing, where a paragraph's text does not look. Word writes each box twice,
    as a drawing and as a fallback picture for older readers; it is read once."""
    from docx.oxml import parse_xml

    box = "<w:txbxContent><w:p><w:r><w:t>Key figure: 4.2 million meals served</w:t></w:r></w:p></w:txbxContent>"
    run = ('<w:r xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
           'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
           'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
           'xmlns:v="urn:schemas-microsoft-com:vml"><mc:AlternateContent>'
           f'<mc:Choice Requires="wps"><w:drawing><wps:wsp><wps:txbx>{box}</wps:txbx></wps:wsp></w:drawing></mc:Choice>'
           f'<mc:Fallback><w:pict><v:shape><v:textbox>{box}</v:textbox></v:shape></w:pict></mc:Fallback>'
           '</mc:AlternateContent></w:r>')
    d = docx.Document()
    d.add_heading("Annual Report 2023", level=0)
    d.add_paragraph("Schools served lunches in every district.")._p.append(parse_xml(run))
    d.add_paragraph("Kitchens were built.")
    d.save(tmp_path / "report.docx")
    doc = load_document(tmp_path / "report.docx")
    assert doc.text.count("Key figure: 4.2 million meals served") == 1
    assert doc.text.index("lunches") < doc.text.index("Key figure") < doc.text.index("Kitchens")


def test_docx_footnotes_are_read_after_the_paragraph_citing_them(tmp_path):
    """Bug: a Word report's footnotes (its sources, its definitions) were in no passage: they
    live in a part of their own, which a paragraph's text does not hold. Each is read after the
    first paragraph citing it; Word's separator notes are not text."""
    import zipfile

    from docx.oxml import parse_xml

    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    d = docx.Document()
    d.add_heading("Annual Report 2023", level=0)
    d.add_paragraph("Stunting fell to 4.8 per cent.")._p.append(parse_xml(f'<w:r {w}><w:footnoteReference w:id="1"/></w:r>'))
    d.add_paragraph("Kitchens were built in 40 counties.")
    d.save(tmp_path / "plain.docx")
    notes = (f'<w:footnotes {w}><w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
             '<w:footnote w:id="1"><w:p><w:r><w:t>Source: national nutrition survey, 2022.</w:t></w:r></w:p></w:footnote>'
             '</w:footnotes>')
    with zipfile.ZipFile(tmp_path / "plain.docx") as src, zipfile.ZipFile(tmp_path / "report.docx", "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("word/footnotes.xml", notes)
    doc = load_document(tmp_path / "report.docx")
    assert doc.text.count("Source: national nutrition survey, 2022.") == 1
    assert doc.text.index("4.8 per cent") < doc.text.index("Source: national") < doc.text.index("Kitchens")


def test_an_office_file_that_unpacks_huge_is_refused_before_parsing(tmp_path):
    """A zip bomb: 1 MB on disk, hundreds of MB unpacked. Refused from the archive's
    directory, before python-docx reads a byte of it."""
    import io
    import tracemalloc
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"<w:document>" + b" " * 300_000_000 + b"</w:document>")
    path = tmp_path / "bomb.docx"
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < 2_000_000
    tracemalloc.start()
    with pytest.raises(LoadError, match="unpacks to 286 MB"):
        load_document(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20_000_000


def test_pptx_slides_are_pages_with_title_text_tables_and_notes(tmp_path):
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for _n, (title, body, notes) in enumerate([("Water in schools", "Wells were dug in four provinces.", "Say: 1,200 schools."),
                                               ("Budget", None, "The budget grew.")], start=1):
        slide = deck.slides.add_slide(deck.slide_layouts[1] if body else deck.slide_layouts[5])
        slide.shapes.title.text = title
        if body:
            slide.placeholders[1].text = body
        else:
            table = slide.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(6), Inches(1)).table
            for r, row in enumerate([("Item", "2023"), ("Pumps", "1,577")]):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
        slide.notes_slide.notes_text_frame.text = notes
    deck.save(tmp_path / "deck.pptx")
    doc = load_document(tmp_path / "deck.pptx")
    assert (doc.format, doc.pages, doc.title) == ("pptx", 2, "Water in schools")
    placed = [(doc.text[b.start:b.end], b.kind, b.page) for b in doc.blocks]
    assert ("Wells were dug in four provinces.", "text", 1) in placed and ("Say: 1,200 schools.", "text", 1) in placed
    assert ("Item | 2023\nPumps | 1,577", "table", 2) in placed and ("The budget grew.", "text", 2) in placed


def test_pptx_text_inside_grouped_shapes_is_read(tmp_path):
    """Bug: text boxes grouped on a slide (a deck's key figures, laid out together) were never
    read: only the slide's own shapes were, and a group has no text frame of its own."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Key results"
    group = slide.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(2), Inches(3), Inches(1)).text_frame.text = "2.1 million children vaccinated"
    inner = group.shapes.add_group_shape()
    inner.shapes.add_textbox(Inches(4), Inches(2), Inches(3), Inches(1)).text_frame.text = "300 clinics equipped"
    deck.save(tmp_path / "deck.pptx")
    doc = load_document(tmp_path / "deck.pptx")
    assert "2.1 million children vaccinated" in doc.text and "300 clinics equipped" in doc.text


def test_xlsx_sheets_are_pages_of_table_rows(tmp_path):
    """Cells read as the sheet shows them, by their number format: a year in the General format
    is 2022, not "2,022" (which had also hidden the sheet's years from its date check), an
    amount formatted #,##0 keeps its separators and a percentage is one."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Cash flows"
    for row in [("Line item", 2022, 2021), ("Purchases of property, plant and equipment", -1577, -1373), ("Share", 0.125, None)]:
        sheet.append(row)
    for cell in ("B2", "C2"):
        sheet[cell].number_format = "#,##0"
    sheet["B3"].number_format = "0.0%"
    book.create_sheet("Empty")
    book.save(tmp_path / "book.xlsx")
    doc = load_document(tmp_path / "book.xlsx")
    table = next(b for b in doc.blocks if b.kind == "table")
    assert doc.text[table.start:table.end] == "Line item | 2022 | 2021\nPurchases of property, plant and equipment | -1,577 | -1,373\nShare | 12.5%"
    assert (table.page, table.context, doc.pages) == (1, "Cash flows · Line item | 2022 | 2021", 2)
    assert doc.date is None  # saved today, about 2022: the file's creation date is not believed


@pytest.mark.parametrize("line, date", [("June 2024", "2024-06"), ("Published: March 2021", "2021-03"), ("19 April 2024", "2024-04-19")])
def test_a_cover_date_of_month_and_year_is_the_publication_date(tmp_path, line, date):
    path = tmp_path / "report.txt"
    path.write_text(f"Water Trust\n\nAnnual Report 2023\n\n{line}\n\nThe Trust dug 530 wells in rural districts in 2023.\n")
    assert load_document(path).date == date


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_read_as_text(tmp_path, encoding):
    """Finding 13 of the security review: it was ingested as junk without a warning."""
    text = "Annual report 2023\n\nWater reached 2 million children in 12 provinces. Über 40 Schulen.\n"
    (tmp_path / "report.txt").write_bytes(text.encode(encoding))
    loaded = load_document(tmp_path / "report.txt")
    assert "Water reached 2 million children" in loaded.text and "Über" in loaded.text


def test_random_bytes_that_decode_as_windows_1252_are_refused(tmp_path):
    import random

    rng = random.Random(0)
    allowed = [b for b in range(32, 256) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)]
    (tmp_path / "noise.txt").write_bytes(bytes(rng.choice(allowed) for _ in range(20_000)))
    with pytest.raises(LoadError, match="does not read as text"):
        load_document(tmp_path / "noise.txt")
    legacy = "Café crème, l'été 2023: rapport annuel. Les enfants ont reçu des vaccins.\n" * 20
    (tmp_path / "legacy.txt").write_bytes(legacy.encode("cp1252"))
    assert "crème" in load_document(tmp_path / "legacy.txt").text


def test_a_short_html_pages_table_keeps_its_rows(tmp_path):
    """A page trafilatura finds no article in goes to BeautifulSoup, which read each table
    cell as a paragraph of its own ("North", "1,200", ... ten paragraphs)."""
    page = tmp_path / "regions.html"
    page.write_text("<html><head><title>Regional results</title></head><body><h1>Regional results</h1>"
                    "<p>Sales grew in every region.</p><div><table><tr><th>Region</th><th>2022</th></tr>"
                    "<tr><td>North</td><td>1,200</td></tr><tr><td>South</td><td>980</td></tr></table></div></body></html>")
    doc = load_document(page)
    (table,) = [b for b in doc.blocks if b.kind == "table"]
    assert doc.text[table.start:table.end] == "Region | 2022\nNorth | 1,200\nSouth | 980"
    assert table.context == "Region | 2022"
    assert [doc.text[b.start:b.end] for b in doc.blocks if b.kind != "table"] == ["Regional results", "Sales grew in every region."]


@pytest.mark.parametrize("body", [
    "We measured three things: (a) uptake, (b) binding and (c) kinetic properties of ATP and IMP are compared.",
    "Patients were randomised to drug or placebo; copyright restrictions apply to the figures.",
    "Study A. Copyright © 2016 The Authors. Inside the Cell.",
])
def test_a_lettered_list_or_a_publishers_line_is_not_the_documents_organisation(tmp_path, body):
    """An abstract's "(c)" item, "copyright" in a sentence, or a journal's "© The Authors"
    once became the document's organisation ("kinetic properties of ATP and IMP are"), and a
    question holding those words then "named" it: its passages gained the organisation's
    bonus and those of every other organisation's documents lost a whole fused score."""
    path = tmp_path / "abstract.txt"
    path.write_text(f"Binding of nucleotides in muscle\n\n{body}\n")
    assert load_document(path).organisation is None


@pytest.mark.parametrize("line, organisation", [
    ("© UNICEF 2024", "UNICEF"),
    ("(c) 2023 Acme Widgets Inc. All rights reserved.", "Acme Widgets Inc."),
    ("Copyright ©2012 AACR.This article is highlighted in the In This Issue feature.", "AACR"),
    ("© 2020 Ministry of Health and partners", "Ministry of Health"),
    ("This report was published by Save the Children. The views expressed are the authors' own.", "Save the Children"),
    ("Published by UNICEF China.Beijing, 2023", "UNICEF China"),
    ("Published by the World Health Organization. Geneva, Switzerland", "the World Health Organization"),
    ("Prepared for the Board. Greenpeace International Ltd. Amsterdam", "Greenpeace International Ltd."),
    # years listed or ranged, and the next paragraph's "Copyright", are no part of the name
    ("Copyright © 2001, 2002 Joey Hess\n\nCopyright © 2005 David Mandelberg", "Joey Hess"),
    ("Copyright © 2001-2022 Colin Watson\nThis document is free", "Colin Watson"),
    ("© 2005 David Mandelberg\n\nCopyright © 2019 Joey Hess", "David Mandelberg"),
    ("Copyright\n\n1999-2021, Software in the Public Interest\n\nAuthors:", "Software in the Public Interest"),
])
def test_a_copyright_or_publishers_line_names_the_organisation_up_to_a_full_stop(tmp_path, line, organisation):
    """A publisher's line ran on past the sentence ("Save the Children. The", "the World
    Health Organization. Geneva", "Board. Greenpeace International Ltd."), and "Published by"
    with a capital was not read at all. Both lines read a name the same way: it holds a full stop
    only inside an initialism ("U.S.", "N.V."), and ends on a name's word, not on "and"."""
    path = tmp_path / "report.txt"
    path.write_text(f"Annual results\n\nRevenue grew in every region.\n\n{line}\n")
    assert load_document(path).organisation == organisation


@pytest.mark.parametrize("stem", ["11771811", "3f2a9c0e-5b1d-4e7a-9c3b-2d1e0f4a6b7c", "doc_000123"])
def test_a_file_named_by_an_id_takes_its_first_line_as_title(tmp_path, stem):
    """An exported collection names its files by record id: the title was "11771811". Such a
    name says nothing; the text's first line, a title's length on its own, does."""
    path = tmp_path / f"{stem}.txt"
    path.write_text("Microstructural development of human newborn cerebral white matter.\n\n"
                    "Diffusion tensor imaging was used to assess water diffusion in the developing brain.\n")
    assert load_document(path).title == "Microstructural development of human newborn cerebral white matter."
    named = tmp_path / "white-matter-study.txt"
    named.write_text(path.read_text())
    assert load_document(named).title == "White Matter Study"  # a readable name is still the title


def test_a_file_of_one_line_named_by_an_id_is_not_its_own_title(tmp_path):
    path = tmp_path / "4711.txt"
    path.write_text("Boundary layer transition on a flat plate at supersonic speeds.\n")
    assert load_document(path).title == "4711"


def test_a_file_of_headings_alone_is_read_as_its_text(tmp_path):
    """A record exported as its title alone ("Permutations of a Set with Repetitions", as a
    third of a catalogue's entries are) reads as a heading, and was refused: "no text found".
    Headings with nothing under them are the document's text."""
    path = tmp_path / "996.txt"
    path.write_text("Permutations of a Set with Repetitions (Algorithm 242)\n")
    doc = load_document(path)
    assert [doc.text[b.start:b.end] for b in doc.blocks if b.kind == "text"] == [
        "Permutations of a Set with Repetitions (Algorithm 242)"]


def test_a_title_heading_that_opens_the_text_is_the_first_passages_text(tmp_path):
    """A short document's title is much of what it is about: a record's title opens its text
    as a paragraph, so its first passage carries it to the embedder and to BM25; a file's did
    not (a heading equal to the title was dropped). Above a heading, it names the document
    and stays out of the passages (no passage of the title alone)."""
    path = tmp_path / "11771811.txt"
    path.write_text("Bleomycin and pulmonary fibrosis\n\nMice given bleomycin developed fibrosis within weeks.\n")
    doc = load_document(path)
    assert doc.title == "Bleomycin and pulmonary fibrosis"
    assert _sections(doc) == [(None, "Bleomycin and pulmonary fibrosis"), (None, "Mice given bleomycin developed fibrosis within weeks.")]
    report = tmp_path / "r.md"
    report.write_text("# Field Report\n\n## Water\n\nWells were dug.\n")
    assert _sections(load_document(report)) == [("Water", "Wells were dug.")]


ZPIPE_PAGE = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.0 Transitional//EN">
<html><head><title>zpipe Usage Example</title></head>
<body bgcolor="#FFFFFF">
<h2 align="center"> zpipe Usage Example </h2>
We often get questions about how the <tt>squash()</tt> and <tt>unsquash()</tt> functions should be used.
Users wonder when they should provide more input and when they should use more output.
<p>
Without further ado, here is the program <a href="zpipe.c"><tt>zpipe.c</tt></a>:
<pre><b>
/* zpipe.c: example of proper use of squash() */
#include "squash.h"
</b></pre><!-- -->
We now include the header files for the required definitions. From
<tt>stdio.h</tt> we use <tt>fopen()</tt> for file input and output.
<pre><b>
#define CHUNK 16384
</b></pre><!-- -->
The buffer size is the amount of data handed to the compressor at a time, and larger buffers are more efficient.
<hr><em>Last modified 11 December 2005</em>
</body></html>"""


def test_prose_written_outside_any_paragraph_is_kept(tmp_path):
    """Bug: a page that writes its prose straight into <body> between code blocks (zlib's "zlib
    Usage Example" page, modelled here) lost every sentence of it: trafilatura kept the code and
    none of the explanations, and the BeautifulSoup reading kept only elements."""
    path = tmp_path / "zpipe.html"
    path.write_text(ZPIPE_PAGE, encoding="utf-8")
    doc = load_document(path)
    assert doc.title == "zpipe Usage Example"
    explained = ["We often get questions about how the squash() and unsquash() functions should be used.",
                 "We now include the header files for the required definitions. From stdio.h we use fopen()",
                 "The buffer size is the amount of data handed to the compressor at a time"]
    at = [doc.text.find(sentence) for sentence in explained]
    assert -1 not in at and at == sorted(at)
    assert at[0] < doc.text.find("#include") < at[1] < doc.text.find("#define CHUNK") < at[2]


def test_the_whole_reading_keeps_loose_text_and_words_as_written(tmp_path):
    """The reading of a whole page (`kb.webpage.read_whole`, also the fallback for a page
    trafilatura finds no article in): a list item's own words before its nested list, and
    the text of a <div> around and between its paragraphs, were dropped."""
    from kb.webpage import read_whole

    page = read_whole(b"<html><body><nav>Home</nav><ul><li>Water points <ul><li>Wells dug</li><li>Pumps fixed</li></ul>"
                      b"</li></ul><div>Every <code>Buffer</code> holds bytes.<br>Line two.<p>A paragraph.</p>Tail text.</div>"
                      b"<footer>Copyright</footer></body></html>")
    pieces = [page.text[b.start:b.end] for b in page.blocks]
    assert pieces == ["Water points", "Wells dug", "Pumps fixed", "Every Buffer holds bytes. Line two.", "A paragraph.",
                      "Tail text."]


def test_the_whole_reading_puts_no_space_before_a_stop_after_markup():
    """Bug: the reading of a whole page joined an element's text to the next with a space, so
    "<b>one</b>." read "one ." and "<tt>zpipe.c</tt>:" read "zpipe.c :", in the shown text
    and in what the sentence splitter reads."""
    from kb.webpage import read_whole

    page = read_whole(b"<html><body><ul><li>Item <b>one</b>.</li></ul><p>Here is the program <a href='z.c'><tt>zpipe.c</tt></a>: "
                      b"it reads (<em>and writes</em>) files, 95<span>%</span> of them, for $<b>5</b>.</p>"
                      b"Loose text about <em>zlib</em>. And more.</body></html>")
    assert [page.text[b.start:b.end] for b in page.blocks] == [
        "Item one.", "Here is the program zpipe.c: it reads (and writes) files, 95% of them, for $5.",
        "Loose text about zlib. And more."]


def test_a_page_whose_extra_text_is_a_menu_keeps_its_main_content_alone(tmp_path):
    """Reading the whole page is for prose the main-content reading lost, not for menus and
    notices beside an article it read in full."""
    article = " ".join(f"<p>Paragraph {i}: the programme trained {i * 40} health workers in the province and "
                       f"reached {i * 900} families with home visits during the year.</p>" for i in range(1, 9))
    path = tmp_path / "article.html"
    path.write_text("<html><head><title>Health workers trained</title></head><body>"
                    "<div class='menu'><a href='/'>Home</a> <a href='/news'>News</a> <a href='/jobs'>Jobs</a></div>"
                    f"<div class='article'><h1>Health workers trained</h1>{article}</div>"
                    "<div class='cookies'>We use cookies to improve your experience on this site. By continuing to browse "
                    "you agree to our use of cookies.</div></body></html>", encoding="utf-8")
    doc = load_document(path)
    assert "reached 7200 families" in doc.text
    assert "Jobs" not in doc.text and "cookies" not in doc.text
