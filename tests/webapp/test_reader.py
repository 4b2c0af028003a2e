"""The reader view: a report as readable HTML, opened at a result's passage, marked."""

import html as html_module
import re

import pytest


def test_a_result_opens_the_reader_at_its_marked_passage(client, sample_kb):
    page = client.get("/", query_string={"q": "online child protection"}).get_data(as_text=True)
    link = html_module.unescape(re.search(r'class="open" href="([^"]+)"', page).group(1))
    assert "/read?p=" in link and "#p-" in link
    passage = link.split("#p-")[1]
    reader = client.get(link.split("#")[0])
    html = reader.get_data(as_text=True)
    assert reader.status_code == 200 and "<h1>UNICEF China 2023 Annual Report</h1>" in html
    assert f'id="p-{passage}"' in html
    marked = re.findall(r'<mark class="(?:passage|sentence)">(.*?)</mark>', html, re.S)
    found = sample_kb.store.passage_by_id(passage)
    text = sample_kb.store.results_for([found[0]])[found[0]][0].text
    assert marked and " ".join(marked).split()[:5] == text.split()[:5]
    # the sentences the result highlighted are the ones marked as such in the reader
    shown = re.search(r'<li class="result".*?</li>', page, re.S).group(0)
    highlighted = [re.sub(r"<[^>]+>", "", m) for m in re.findall(r"<mark>(.*?)</mark>", shown, re.S)]
    sentences = [re.sub(r"<[^>]+>", "", m) for m in re.findall(r'<mark class="sentence">(.*?)</mark>', html, re.S)]
    assert "&s=" in link
    assert highlighted and [" ".join(x.split()) for x in sentences] == [" ".join(x.split()) for x in highlighted]


def test_the_reader_shows_every_passage_once_with_headings_and_repaired_text(client, sample_kb):
    doc = sample_kb.documents()[0]
    html = client.get(f"/documents/{doc.id}/read").get_data(as_text=True)
    ids = re.findall(r'id="p-([0-9a-f]{16})"', html)
    rows = sample_kb.store.document_layout(doc.id)[1]
    assert len(ids) == len(set(ids)) == len({r[0] for r in rows})
    assert "<h2" in html and "<mark>" not in html
    assert not re.search(r"[a-z]\.[A-Z][a-z]", re.sub(r"<[^>]+>", "", html.split("<article", 1)[1]))  # no glued sentences
    assert client.get(f"/documents/{doc.id}/read?p=zzz").status_code == 400
    assert client.get("/documents/000000000000/read").status_code == 404


def test_the_citation_links_to_the_passage_in_the_reader(client):
    page = client.get("/", query_string={"q": "newborn care"}).get_data(as_text=True)
    cite = re.search(r'data-citation="([^"]+)"', page).group(1)
    assert "/read?p=" in cite and "#p-" in cite


def test_citations_quote_the_answer_and_come_as_text_markdown_and_bibtex(sample_kb):
    from kb.reading import citation

    result = sample_kb.search("How many health professionals were trained in newborn care?")[0]
    c = citation(result, "https://kb.example.org/documents/x/read?p=y#p-y")
    assert "748,000 health professionals" in c.quote and c.quote in result.passage.text.replace("\n", " ")
    assert c.text.startswith(f"“{c.quote}” UNICEF China 2023 Annual Report, UNICEF China") and "2024-04-19" in c.text
    assert c.markdown.startswith(f"> {c.quote}\n\n— *UNICEF China 2023 Annual Report*") and "[Link](https://kb.example.org" in c.markdown
    assert c.bibtex.startswith("@report{kb-") and "year = {2024}" in c.bibtex and "institution = {UNICEF China}" in c.bibtex
    assert c.bibtex.count("{") == c.bibtex.count("}")


def test_one_passage_count_and_a_weak_only_list_says_so(app, client, sample_kb, monkeypatch):
    home = client.get("/").get_data(as_text=True)
    docs = sample_kb.documents()
    assert f"Search {sum(d.passages for d in docs)} passages" in home  # as the reports pages count them
    strong = client.get("/", query_string={"q": "How many health professionals were trained in newborn care?"}).get_data(as_text=True)
    assert "748,000" in strong and "No close match" not in strong
    kb = app.extensions["kb"]
    search = kb.search  # a list the default cut would not show: every result weak
    monkeypatch.setattr(kb, "search", lambda *a, **kw: search(*a, **{**kw, "min_score": 0}))
    weak = client.get("/", query_string={"q": "quarterly revenue guidance for shareholders"}).get_data(as_text=True)
    assert "No close match; these are the nearest passages." in weak and 'class="result' in weak


def test_section_links_open_the_reader_at_the_section(client, sample_kb):
    doc = sample_kb.documents()[0]
    page = client.get(f"/documents/{doc.id}").get_data(as_text=True)
    links = re.findall(rf'href="(/documents/{doc.id}/read#p-([0-9a-f]{{16}}))"', page)
    assert links and "section=" not in page.split("<h2>Sections</h2>")[1]
    reader = client.get(f"/documents/{doc.id}/read").get_data(as_text=True)
    assert all(f'id="p-{pid}"' in reader for _, pid in links)


def test_search_results_show_glued_sentences_spaced_and_still_highlighted(client):
    page = client.get("/", query_string={"q": "what was done on online child protection"}).get_data(as_text=True)
    shown = re.sub(r"<[^>]+>", "", page.split('<ol class="results"', 1)[1])
    assert "so far. To promote" in shown and "so far.To promote" not in shown
    assert "<mark>" in page  # highlights are still found in the repaired text


def test_a_passage_repeated_in_its_report_is_marked_where_its_anchor_is(client, sample_kb):
    """The sample report repeats its opening paragraph; the passage holding it was marked at
    its last place while its anchor (where the browser scrolls) was at its first."""
    layout = sample_kb.store.document_layout(sample_kb.documents()[0].id)[1]
    ids = [row[0] for row in layout]
    repeated = next(pid for pid in ids if ids.count(pid) > 1)
    html = client.get(f"/documents/{sample_kb.documents()[0].id}/read?p={repeated}").get_data(as_text=True)
    anchor, mark = html.index(f'id="p-{repeated}"'), html.index("<mark class=")
    assert anchor < mark < html.index("</p>", anchor)  # the mark is in the block the anchor opens


@pytest.fixture(scope="module")
def overlapping_kb(tmp_path_factory):
    """The sample report in passages that overlap by half (chunk_overlap 32 of 64 word pieces)."""
    from kb import KnowledgeBase, Settings

    from ..conftest import SAMPLE_DIR

    kb = KnowledgeBase(Settings.load(env={}, home=tmp_path_factory.mktemp("overlap"), chunk_tokens=64, chunk_overlap=32))
    kb.ingest([SAMPLE_DIR])
    return kb


def test_neighbouring_results_do_not_repeat_each_other(overlapping_kb):
    import html as entities

    from webapp import create_app

    client = create_app({"KB_SETTINGS": overlapping_kb.settings, "TESTING": True}).test_client()
    page = client.get("/?q=newborn+care+and+child+health&k=10").get_data(as_text=True)
    texts = [entities.unescape(re.sub(r"<[^>]+>", "", t)) for t in re.findall(r'<p class="text">(.*?)</p>', page, re.S)]
    assert len(texts) == 10
    seen: dict[str, int] = {}
    for i, text in enumerate(texts):
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(text.split())):
            if len(sentence) > 40 and not sentence.startswith("…"):
                assert sentence not in seen, f"result {i + 1} repeats result {seen[sentence] + 1}: {sentence}"
                seen[sentence] = i
    assert any(t.startswith("… ") or t.endswith(" …") for t in texts)  # overlaps were there, and left out


def test_show_context_shows_only_what_comes_before_and_after(overlapping_kb):
    """The context is the report's text up to the passage and after it, so no sentence of
    the passage appears in it again."""
    from kb import reading
    from kb.reader import repair

    kb = overlapping_kb
    results = kb.search("newborn care", min_score=0, k=5)
    checked = 0
    for r in results:
        ctx = reading.context(kb, r)
        sentences = [s for s in repair(r.passage.text).split(". ") if len(s) > 30]
        for text in (*ctx.before, *ctx.after):
            assert not any(s in repair(text) for s in sentences), (r.passage.text[:80], text[-200:])
        checked += bool(ctx.before and ctx.after)
    assert checked >= 3


def test_bulleted_paragraphs_read_as_a_list(tmp_path):
    from kb import KnowledgeBase, Settings
    from webapp import create_app

    report = tmp_path / "programmes.txt"
    report.write_text("Programmes 2023\n\nIn 2023 the programme reached three goals:\n\n"
                      "• Trained 1,200 midwives in rural clinics.\n\n• Opened 40 reading rooms.\n\n"
                      "• Vaccinated 90,000 children against measles.\n\nThe work continues in 2024.\n")
    kb = KnowledgeBase(Settings.load(env={}, home=tmp_path / "home", model="hash"))
    kb.ingest([report])
    client = create_app({"KB_SETTINGS": kb.settings, "TESTING": True}).test_client()
    page = client.get(f"/documents/{kb.documents()[0].id}/read").get_data(as_text=True)
    items = re.findall(r'<ul class="items">(.*?)</ul>', page, re.S)
    assert len(items) == 1
    texts = [re.sub(r"<[^>]+>", "", x).strip() for x in re.findall(r"<li>(.*?)</li>", items[0], re.S)]
    assert texts == ["Trained 1,200 midwives in rural clinics.", "Opened 40 reading rooms.",
                     "Vaccinated 90,000 children against measles."]
    assert "The work continues in 2024." not in items[0]
