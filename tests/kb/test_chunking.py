import re

import pytest

from kb.chunking import chunk_document, split_sentences
from kb.loaders import load_document
from kb.structure import Block, LoadedDocument

from ..conftest import SAMPLE


def words(texts):
    return [len(t.split()) for t in texts]


@pytest.mark.parametrize(
    "text, sentences",
    [
        ("One. Two three. Four?", ["One.", "Two three.", "Four?"]),
        ("the most vulnerable.To achieve this.", ["the most vulnerable.", "To achieve this."]),
        ("partners:Trained staff.Reached children.", ["partners:", "Trained staff.", "Reached children."]),
        ("these goals.UNICEF made progress.", ["these goals.", "UNICEF made progress."]),
        ("Dr. Smith met Mr. Li on Jan. 5. They talked.", ["Dr. Smith met Mr. Li on Jan. 5.", "They talked."]),
        ("It grew 1.1 million, e.g. in Asia. Next one.", ["It grew 1.1 million, e.g. in Asia.", "Next one."]),
        ("The U.S. Congress met. Then it left.", ["The U.S. Congress met.", "Then it left."]),
        ("He said \"stop.\" Then left.", ["He said \"stop.\"", "Then left."]),
        ("Note: the text goes on. Yes.", ["Note: the text goes on.", "Yes."]),
        ("J. K. Rowling wrote it.", ["J. K. Rowling wrote it."]),
        ("no terminal punctuation", ["no terminal punctuation"]),
        ("   ", []),
        # a blank line ends a sentence: a signature, a caption or a title line is not the next one's start
        ("/s/ Matthew Friend\n\nMatthew Friend\n \nChief Financial Officer",
         ["/s/ Matthew Friend", "Matthew Friend", "Chief Financial Officer"]),
        ("联合国儿童基金会年度报告\n\n2023年，儿童保护工作取得进展。", ["联合国儿童基金会年度报告", "2023年，儿童保护工作取得进展。"]),
        ("Table 3\nRegion 1,200\n\nWells were dug. Pumps.", ["Table 3\nRegion 1,200", "Wells were dug.", "Pumps."]),
    ],
)
def test_split_sentences(text, sentences):
    assert [text[s:e] for s, e in split_sentences(text)] == sentences


def _doc(paragraphs, headings=()):
    text, blocks = "", []
    for p in paragraphs:
        if text:
            text += "\n\n"
        kind = "heading" if p in headings else "text"
        blocks.append(Block(len(text), len(text) + len(p), kind))
        text += p
    return LoadedDocument(text, tuple(blocks), "Title", None, "text")


def test_passages_respect_the_limit_and_overlap():
    sentences = [f"Sentence number {i} has exactly seven words." for i in range(60)]
    doc = _doc([" ".join(sentences)])
    chunks = chunk_document(doc, words, max_tokens=50, target=40, overlap=8)
    assert all(c.tokens <= 40 for c in chunks)
    assert len(chunks) >= 60 * 7 // 40
    for a, b in zip(chunks, chunks[1:]):  # each passage starts with the last sentence of the one before
        assert b.text.startswith(re.findall(r"Sentence number \d+ has exactly seven words\.", a.text)[-1])
    assert all(doc.text[c.start:c.end] == c.text for c in chunks)
    covered = " ".join(c.text for c in chunks)
    assert all(s in covered for s in sentences)


def test_passages_stay_within_sections_and_carry_them():
    doc = _doc(["Health", "Nurses were trained. Clinics opened.", "Education", "Schools reopened."], headings={"Health", "Education"})
    chunks = chunk_document(doc, words, max_tokens=100, target=100, overlap=10)
    assert [(c.section, c.clean) for c in chunks] == [
        ("Health", "Nurses were trained. Clinics opened."),
        ("Education", "Schools reopened."),
    ]


def test_a_passage_cites_one_page():
    """Bug: passages were packed across page breaks and cited by the page they began on, so a
    line on the next page (a statement's total, a figure) was cited by the wrong page. A
    page's short remainder (under a quarter of the target) stays with its neighbour."""
    def paged(pages):
        text, blocks = "", []
        for number, paragraph in pages:
            text += "\n\n" if text else ""
            blocks.append(Block(len(text), len(text) + len(paragraph), "text", page=number))
            text += paragraph
        return LoadedDocument(text, tuple(blocks), "Title", None, "pdf", pages=pages[-1][0])

    page = " ".join(f"Sentence {i} on this page has seven." for i in range(5))  # 35 words
    chunks = chunk_document(paged([(1, page), (2, page.replace("page", "leaf")), (3, "Last words here.")]),
                            words, max_tokens=100, target=100, overlap=10)
    assert [c.page for c in chunks] == [1, 2]
    assert "page" in chunks[0].text and "leaf" not in chunks[0].text
    assert "leaf" in chunks[1].text and chunks[1].text.endswith("Last words here.")  # 3 words: a remainder


def test_an_over_long_sentence_is_cut_at_words():
    doc = _doc([" ".join(["word"] * 130) + "."])
    chunks = chunk_document(doc, words, max_tokens=50, target=50, overlap=0)
    assert [c.tokens for c in chunks] == [50, 50, 30]


def test_sample_passages_fit_the_real_model(sample_kb):
    e = sample_kb.embedder
    doc = load_document(SAMPLE)
    chunks = chunk_document(doc, e.count_tokens, e.max_tokens, target=e.max_tokens, overlap=32)
    counts = e.count_tokens([c.clean for c in chunks])
    assert max(counts) <= 254 and counts == [c.tokens for c in chunks]
    assert all("vulnerable. To achieve" in c.clean for c in chunks if "vulnerable.To achieve" in c.text)


CHINESE = ("联合国儿童基金会与中国政府合作，在三十一个省份开展儿童保护工作。" * 40
           + "二〇二三年，儿童网络保护条例获得批准！这对儿童非常重要？")


@pytest.mark.parametrize("text", [
    CHINESE,  # no spaces; sentences end in 。！？
    ",".join(str(n) for n in range(40_000)),  # one "word" of 228,889 characters
    "x" * 100_000,
])
def test_text_without_spaces_chunks_within_the_limit(sample_kb, text):
    """Bug: a paragraph with no spaces raised RecursionError (an over-long "word" was halved
    into itself for ever). Every passage must fit the model, and all the text be kept."""
    e = sample_kb.embedder
    doc = _doc([text])
    chunks = chunk_document(doc, e.count_tokens, e.max_tokens, target=200, overlap=32)
    assert chunks and max(e.count_tokens([c.clean for c in chunks])) <= e.max_tokens
    assert all(doc.text[c.start:c.end] == c.text for c in chunks)
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert len(covered) == len(text)


def test_chinese_is_split_into_sentences():
    text = "儿童网络保护条例获得批准。这对儿童非常重要！我们还能做什么？是的"
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "儿童网络保护条例获得批准。", "这对儿童非常重要！", "我们还能做什么？", "是的"]


def test_a_fragment_beside_a_table_joins_it():
    """Bug: "Current assets" over a balance sheet's rows, and "(Dollars in millions)" under a
    table, were passages of their own, 2-5 word pieces with nothing to read or cite (151 of a
    folder of 13 reports' 7,127 passages were under 8); they join the table beside them on
    their page. A section holding nothing else keeps its fragment: "None." answers with its
    heading."""
    parts = [("Assets", "heading", None), ("Current assets", "text", None),
             ("Cash 3,655 4,564\nInventories 5,372 4,985", "table", "Balance Sheet · (Millions) 2022 2021"),
             ("(Dollars in millions)", "text", None),
             ("Item 1B. Unresolved Staff Comments", "heading", None), ("None.", "text", None)]
    text, blocks = "", []
    for body, kind, context in parts:
        text += "\n\n" if text else ""
        blocks.append(Block(len(text), len(text) + len(body), kind, page=1, context=context))
        text += body
    chunks = chunk_document(LoadedDocument(text, tuple(blocks), "Title", None, "pdf", pages=1), words,
                            max_tokens=100, target=100, overlap=10)
    assert [(c.section, c.clean) for c in chunks] == [
        ("Assets", "Balance Sheet · (Millions) 2022 2021\nCurrent assets Cash 3,655 4,564 Inventories 5,372 4,985 (Dollars in millions)"),
        ("Item 1B. Unresolved Staff Comments", "None."),
    ]
    assert chunks[0].text.startswith("Current assets") and chunks[0].text.endswith("(Dollars in millions)")


def test_a_table_passage_carries_its_title_and_columns():
    rows = "\n".join(f"Line item {i} ({i},577) ({i},373) ({i},420)" for i in range(40))
    text = "Cash flows\n\n" + rows
    doc = LoadedDocument(text, (Block(0, 10, "heading"), Block(12, len(text), "table", context="Statement of Cash Flows · (Millions) 2022 2021 2020")),
                         "Title", None, "pdf")
    chunks = chunk_document(doc, words, max_tokens=60, target=50, overlap=0)
    assert len(chunks) > 1
    for c in chunks:
        assert c.clean.startswith("Statement of Cash Flows · (Millions) 2022 2021 2020")
        assert all(re.fullmatch(r"Line item \d+ \(\d+,577\) \(\d+,373\) \(\d+,420\)", row) for row in c.text.split("\n"))
        assert c.tokens <= 60
