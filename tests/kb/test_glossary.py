"""The glossary's rules: which names a query holds, and which of their other names it adds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kb.glossary import BUNDLED, RARER, Glossary, load_glossary

GROUPS = Glossary.parse("""
# a comment, and a blank line

capex, capital expenditure, purchases of property and equipment
r&d, research and development
""")


def rarity_from(idf: dict[str, float]):
    """A name's rarity as the index gives it: its rarest word's IDF (unknown words rarest)."""
    return lambda text: max(idf.get(w, math.inf) for w in text.lower().split())


def test_a_rare_name_adds_the_names_the_collection_uses():
    rarity = rarity_from({"capex": 9.0, "capital": 5.0, "expenditure": 6.0, "purchases": 2.0, "of": 0.1,
                          "property": 2.5, "and": 0.1, "equipment": 2.5})
    assert GROUPS.additions("Adobe capex FY2017", rarity) == ["capital expenditure", "purchases of property and equipment"]
    assert GROUPS.widen("Adobe capex FY2017", rarity) == "Adobe capex FY2017 (capital expenditure; purchases of property and equipment)"


def test_a_name_the_collection_uses_adds_nothing_rarer_or_about_as_common():
    """"capital expenditures" is what Lockheed's statements print: a name no commoner by
    `RARER` is not added, and the glossary never adds a rarer one ("capex")."""
    rarity = rarity_from({"capex": 9.0, "capital": 3.0, "expenditure": 3.5, "purchases": 2.0, "of": 0.1,
                          "property": 3.5 - RARER + 0.01, "and": 0.1, "equipment": 2.0})
    assert GROUPS.additions("Lockheed capital expenditures 2022", rarity) == []
    assert GROUPS.widen("Lockheed capital expenditures 2022", rarity) == "Lockheed capital expenditures 2022"


def test_names_match_whole_words_plurals_and_ampersands():
    rarity = rarity_from({})  # every word unknown: rarest
    common = rarity_from({"research": 1.0, "and": 0.1, "development": 1.0})
    assert GROUPS.additions("3M R&D spend", common) == ["research and development"]  # "&" inside the word
    assert GROUPS.additions("3M r & d spend", common) == []  # not the name
    assert GROUPS.additions("capexes", rarity) == []  # no "s" to drop: a different word
    assert GROUPS.additions("the capexs", rarity_from({"capital": 1, "expenditure": 1, "purchases": 1, "of": 1,
                                                        "property": 1, "and": 1, "equipment": 1})) != []  # plural
    assert GROUPS.additions("recapex", rarity) == []  # part of a word is no name


def test_a_measure_names_the_lines_it_is_computed_from_with_their_other_names():
    glossary = Glossary.parse("""
operating cash flow, net cash from operations
capex, additions to property and equipment
free cash flow, fcf => operating cash flow; capex | capital spending
current ratio => total current assets; total current liabilities
""")
    assert glossary.lines_for("Microsoft FCF FY2023") == [
        "operating cash flow", "net cash from operations", "capex", "additions to property and equipment", "capital spending"]
    assert glossary.lines_for("Lockheed Martin current ratios 2022") == ["total current assets", "total current liabilities"]
    # a line asked for by one of its names is printed under any of them; a question about it is answered in prose
    assert glossary.lines_for("Microsoft operating cash flow FY2023") == ["operating cash flow", "net cash from operations"]
    for about in ("Why did Microsoft's operating cash flow change in FY2023?", "Microsoft operating cash flow growth",
                  "Microsoft operating cash flow as a % of revenue", "Microsoft operating cash flow outlook"):
        assert glossary.lines_for(about) == [], about
    assert glossary.widen("Microsoft FCF FY2023", lambda text: 0.0) == "Microsoft FCF FY2023"  # measures never widen retrieval


def test_a_bad_file_names_its_line(tmp_path):
    with pytest.raises(ValueError, match="line 2"):
        Glossary.parse("capex, capital expenditure\nlonely name\n")
    with pytest.raises(ValueError, match="line 1: a measure"):
        Glossary.parse("free cash flow => operating cash flow; \n")
    with pytest.raises(ValueError, match="cannot read"):
        load_glossary(str(tmp_path / "missing.txt"))
    assert load_glossary("none") is None


def test_the_bundled_glossary_names_phrases_or_abbreviations_only():
    """One common word as a name ("turnover", "revenue") would widen every question holding it;
    a word only the trade uses for the thing ("headcount") may stand alone."""
    glossary = load_glossary("bundled")
    assert glossary is not None and len(glossary.groups) >= 15 and len(glossary.measures) >= 10 and BUNDLED.is_file()
    for group in glossary.groups:
        for written, words in group:
            assert len(words.split()) >= 2 or len(written) <= 5 or written in {"headcount"}, written


def test_a_glossary_setting_that_is_no_file_is_refused_at_load():
    from kb.settings import Settings

    with pytest.raises(ValueError, match="glossary"):
        Settings.load(env={"KB_GLOSSARY": "/no/such/glossary.txt"})
    assert Settings.load(env={"KB_GLOSSARY": "none"}).glossary == "none"


def test_a_question_naming_an_organisation_is_widened_by_how_its_own_reports_word_things(fake_kb, tmp_path):
    """Nike prints "Additions to property, plant and equipment"; Lockheed Martin prints
    "capital expenditures" throughout. In a folder holding both, "capital expenditure" is the
    commoner name, so "Nike capital expenditures" was not widened. The rule now reads the named
    organisation's own passages."""
    def report(name: str, sections: list[str]) -> Path:
        path = tmp_path / f"{name.split()[0].lower()}.md"
        path.write_text(f"# {name} Annual Report 2022\n\n" + "\n\n".join(
            f"## Part {i}\n\n{text} This section of the {name} report is about part {i}." for i, text in enumerate(sections)))
        return path

    acme = report("Acme Corporation", ["Additions to property and equipment (500) (420) for the year."] * 5
                  + ["Revenue grew in every region, led by the widgets segment."] * 5)
    globex = report("Globex Corporation", ["Capital expenditures were $1.2 billion, mostly on new plants."] * 30)
    report_ = fake_kb.ingest([acme, globex])
    assert not report_.failed
    assert {d.organisation for d in fake_kb.documents()} == {"Acme Corporation", "Globex Corporation"}
    engine = fake_kb.engine()
    assert "additions to property and equipment" in fake_kb.searcher.widened(engine, "Acme capital expenditures 2022")
    # no organisation named: the collection's own wording, where "capital expenditures" is common
    assert fake_kb.searcher.widened(engine, "capital expenditures 2022") == "capital expenditures 2022"
