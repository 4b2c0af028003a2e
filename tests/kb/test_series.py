"""Report series: found from the documents, editable, used to fold boilerplate across
editions, to filter by year and series, and to compare editions (real model, real store)."""

from __future__ import annotations

import pytest

from kb import KnowledgeBase
from kb.errors import InvalidRequest, NotFound
from kb.records import Document
from kb.related import compare_editions, more_like_this
from kb.series import edition_year, find_series, query_years

ABOUT = "what does the Acme Reading Foundation do"


@pytest.fixture(scope="module")
def kb(series_settings) -> KnowledgeBase:
    return KnowledgeBase(series_settings)


def _doc(title, **fields) -> Document:
    return Document(id=title[:12], title=title, source=title, date=fields.pop("date", None), format="text",
                    content_hash="x", **fields)


def test_editions_of_one_report_form_a_series_newest_first(kb):
    (series,) = kb.series()
    assert series.name == "Acme Reading Foundation · annual report"
    assert [e.year for e in series.editions] == [2023, 2022, 2021]
    assert [e.document.title for e in series.editions][0] == "Acme Reading Foundation Annual Report 2023"


def test_series_are_found_from_titles_without_an_organisation_and_never_from_one_edition():
    docs = [_doc("Clean Water Trust Review 2021"), _doc("Clean Water Trust Review 2022"),
            _doc("Clean Water Trust Review 2022"),  # the same edition twice is still two editions' worth
            _doc("Another Lone Report 2020")]
    found = find_series(docs)
    assert [s.name for s in found] == ["Clean Water Trust Review"]
    assert [e.year for e in found[0].editions][:1] == [2022]
    assert find_series([_doc("Budget Outlook 2023"), _doc("Budget Outlook 2023")]) == []  # one edition only
    # titles that differ by a number that is no year (a journal's algorithms, CACM) are not editions
    assert find_series([_doc("Ancestor (Algorithm 245)"), _doc("Ancestor (Algorithm 301)")]) == []
    quarterly = find_series([_doc("Q1", organisation="JPMorgan Chase & Co.", kind="quarterly report", period="Q1 2023"),
                             _doc("Q2", organisation="JPMorgan Chase & Co.", kind="quarterly report", period="Q2 2023")])
    assert [e.label for e in quarterly[0].editions] == ["Q2 2023", "Q1 2023"]


def test_series_ids_are_safe_in_any_script():
    found = find_series([_doc("联合国儿童基金会 年度报告 2022"), _doc("联合国儿童基金会 年度报告 2023")])
    assert len(found) == 1 and found[0].id.isascii() and len(found[0].id) >= 10


def test_years_come_from_the_period_then_the_date_and_queries_name_years():
    assert edition_year(_doc("Form 10-K", period="FY2022", date="2023-02-01")) == 2022
    assert edition_year(_doc("A report", date="2021-06-30")) == 2021
    assert edition_year(_doc("Plan FY23")) == 2023
    assert query_years("revenue in FY2022 and 2019") == {2019, 2022}
    assert query_years("revenue in FY22") == {2022} and query_years("20,053 teachers") == set()


def test_boilerplate_across_editions_is_one_result_showing_the_newest(kb):
    results = kb.search(ABOUT, min_score=0)
    about = [r for r in results if r.occurrence.section == "About the Foundation"]
    assert len(about) == 1  # three editions, one result
    (r,) = about
    assert r.document.title.endswith("2023")
    assert sorted(edition_year(p.document) for p in r.also) == [2021, 2022]
    assert all(p.passage.id != r.passage.id for p in r.also)  # nearly, not exactly, the same text (the year differs)
    assert r.to_dict()["also_in"][0]["document"]["title"].endswith("2022")


def test_a_query_naming_a_year_shows_that_edition(kb):
    about = [r for r in kb.search(ABOUT + " in 2022", min_score=0) if r.occurrence.section == "About the Foundation"]
    assert len(about) == 1 and about[0].document.title.endswith("2022")
    assert sorted(edition_year(p.document) for p in about[0].also) == [2021, 2023]


def test_passages_that_differ_in_a_figure_are_not_folded(kb):
    results = kb.search("how many new libraries did the Foundation open", min_score=0)
    highlights = [r for r in results if (r.occurrence.section or "").startswith("Highlights of")]
    assert len(highlights) == 3 and all(not r.also for r in highlights)
    assert {r.document.title[-4:] for r in highlights} == {"2021", "2022", "2023"}


def test_filter_by_year_and_by_series(kb):
    in_2022 = kb.search("reading programmes", filters={"year": 2022}, min_score=0)
    assert in_2022 and {r.document.title[-4:] for r in in_2022} == {"2022"}
    (series,) = kb.series()
    assert kb.search("reading programmes", filters={"series": series.id, "year": [2021, 2023]}, min_score=0)
    assert kb.search("reading programmes", filters={"series": "no-such-series"}, min_score=0) == []
    for bad in ({"year": "2022"}, {"year": 99999}, {"year": []}, {"series": "a b"}, {"series": "é"}):
        with pytest.raises(InvalidRequest) as info:
            kb.search("reading", filters=bad)
        assert info.value.code == "invalid_filter"


def test_compare_editions_finds_each_editions_own_passage(kb):
    flood = next(r for r in kb.search("flood relief for schools", min_score=0) if r.document.title.endswith("2021"))
    about = next(r for r in kb.search(ABOUT, min_score=0) if r.occurrence.section == "About the Foundation")
    c = compare_editions(kb, about.passage.id)
    assert [e.year for e, _, _ in c.editions] == [2022, 2021]
    for edition, place, similarity in c.editions:
        assert place is not None and f"This report covers {edition.year}" in place.passage.text
        assert similarity > 0.9
    assert c.to_dict()["series"]["name"] == "Acme Reading Foundation · annual report"
    topic = compare_editions(kb, flood.passage.id)  # each other year's own programme is its closest passage
    assert all(place is not None for _, place, _ in topic.editions)


def test_more_like_this_looks_in_other_reports(kb):
    about = next(r for r in kb.search(ABOUT, min_score=0) if r.occurrence.section == "About the Foundation")
    source, similar = more_like_this(kb, about.passage.id, 4)
    assert source.passage.id == about.passage.id and len(similar) == 4
    assert all(r.document.id != source.document.id for r in similar)
    assert similar[0].score > 0.9 and "About the Foundation" == similar[0].occurrence.section
    with pytest.raises(NotFound):
        more_like_this(kb, "0" * 16)


def test_a_person_sets_or_clears_a_series(tmp_path, series_settings):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(series_settings.home, home)
    kb = KnowledgeBase(series_settings.__class__.load(env={}, home=home))
    (series,) = kb.series()
    oldest = series.editions[-1].document
    kb.edit_document(oldest.id, series="none")
    assert [len(s.editions) for s in kb.series()] == [2]
    kb.edit_document(oldest.id, series="Acme archive")
    assert sorted(s.name for s in kb.series()) == ["Acme Reading Foundation · annual report", "Acme archive"]
    assert kb.document(oldest.id).to_dict()["series"] == "Acme archive" and "series" in kb.document(oldest.id).edited
    kb.edit_document(oldest.id, series=None)
    assert [len(s.editions) for s in kb.series()] == [3]


def test_a_report_in_no_series_has_no_editions_to_compare(sample_kb):
    assert sample_kb.series() == []
    passage = sample_kb.search("newborn care", min_score=0)[0].passage.id
    with pytest.raises(NotFound, match="not part of a report series"):
        compare_editions(sample_kb, passage)
