"""Report series on the pages and the API: the reports page groups editions, results fold
boilerplate and group by series, the year filter and the timeline, compare editions and
more like this; the answer card on the sample report."""

from __future__ import annotations

import re

import pytest

from webapp import create_app

ABOUT = "what does the Acme Reading Foundation do"


@pytest.fixture(scope="module")
def series_client(series_settings):
    return create_app({"KB_SETTINGS": series_settings, "TESTING": True}).test_client()


def _html(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.data[:300]
    return response.get_data(as_text=True)


def test_the_reports_page_groups_editions_newest_first(series_client):
    html = _html(series_client, "/documents")
    section = html[html.index('class="series-title"'):]
    assert "Acme Reading Foundation · annual report" in section and "3 editions, 2021–2023" in section
    titles = re.findall(r">(Acme Reading Foundation Annual Report \d{4})<", section)
    assert titles == [f"Acme Reading Foundation Annual Report {y}" for y in (2023, 2022, 2021)]
    assert "Other reports" not in html  # every report is an edition here


def test_a_folded_result_says_which_other_editions_hold_it(series_client):
    html = _html(series_client, "/?q=" + ABOUT.replace(" ", "+"))
    assert html.count("Also in the 2021 and 2022 editions") >= 1
    shown = [t for t in re.findall(r'<p class="text">(.*?)</p>', html, re.S) if "This report covers" in t]
    assert len(shown) == 1  # three editions' boilerplate, shown once
    assert len(re.findall(r'class="also-text">[^<]*This report covers', html)) == 2  # each other edition's line
    assert "Compare editions</a>" in html and "More like this</a>" in html


def test_group_by_series_filter_by_year_and_the_timeline(series_client):
    html = _html(series_client, "/?q=reading+programmes&group=series")
    assert re.search(r'<h2 class="group-title">Acme Reading Foundation · annual report <span class="count">\d+', html)
    timeline = html[html.index('class="timeline"'):html.index("</ul>", html.index('class="timeline"'))]
    assert [int(y) for y in re.findall(r'class="year">(\d{4})<', timeline)] == [2021, 2022, 2023]
    counts = [int(n) for n in re.findall(r'<meter class="bar" min="0" max="\d+" value="(\d+)">', timeline)]
    assert len(counts) == 3 and max(counts) == int(re.search(r'max="(\d+)"', timeline).group(1))
    filtered = _html(series_client, "/?q=reading+programmes&year=2022")
    titles = set(re.findall(r'<a class="open" [^>]*>([^<]+)</a>', filtered))
    assert titles == {"Acme Reading Foundation Annual Report 2022"}
    assert '<option selected>2022</option>' in filtered
    refused = series_client.get("/?q=reading&year=twenty")
    assert refused.status_code == 400 and "four digits" in refused.get_data(as_text=True)


def test_compare_and_more_like_this_pages(series_client):
    found = series_client.get("/api/v1/search", query_string={"q": ABOUT, "min_score": 0}).get_json()["results"]
    passage = next(r["passage_id"] for r in found if r["section"] == "About the Foundation")
    compare = _html(series_client, f"/passages/{passage}/compare")
    assert compare.count('<article class="edition"') == 2 and "This report covers 2022" in compare
    assert "This report covers 2021" in compare and "<h1>Compare editions</h1>" in compare
    similar = _html(series_client, f"/passages/{passage}/similar")
    assert "<h1>More like this</h1>" in similar and similar.count('<li class="result">') >= 2
    assert series_client.get("/passages/../compare").status_code in (400, 404)
    assert series_client.get("/passages/zzzz/compare").status_code == 400
    assert series_client.get("/passages/" + "0" * 16 + "/similar").status_code == 404


def test_the_api_lists_series_and_compares_editions(series_client):
    series = series_client.get("/api/v1/series").get_json()["series"]
    assert [e["year"] for e in series[0]["editions"]] == [2023, 2022, 2021]
    found = series_client.get("/api/v1/search", query_string={"q": ABOUT, "min_score": 0}).get_json()["results"]
    folded = next(r for r in found if r["also_in"])
    assert sorted(p["document"]["title"][-4:] for p in folded["also_in"]) == ["2021", "2022"]
    editions = series_client.get(f"/api/v1/passages/{folded['passage_id']}/editions").get_json()
    assert [e["year"] for e in editions["editions"]] == [2022, 2021] and editions["editions"][0]["similarity"] > 0.9
    similar = series_client.get(f"/api/v1/passages/{folded['passage_id']}/similar?k=2").get_json()
    assert len(similar["results"]) == 2
    by_year = series_client.get("/api/v1/search", query_string=[("q", "reading"), ("year", "2021"), ("year", "2023"),
                                                                  ("min_score", "0")]).get_json()["results"]
    assert by_year and {r["document"]["title"][-4:] for r in by_year} <= {"2021", "2023"}
    for query in ({"q": "reading", "year": "x"}, {"q": "reading", "series": "a b"}):
        bad = series_client.get("/api/v1/search", query_string=query)
        assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_filter"
    body = {"query": "reading", "filters": {"series": series[0]["id"], "year": [2022]}, "min_score": 0}
    posted = series_client.post("/api/v1/search", json=body).get_json()["results"]
    assert posted and {r["document"]["title"][-4:] for r in posted} == {"2022"}
    assert series_client.get("/api/v1/passages/" + "0" * 16 + "/editions").status_code == 404
    assert series_client.get(f"/api/v1/passages/{folded['passage_id']}/similar?k=0").get_json()["error"]["code"] == "invalid_k"


def test_an_answer_card_only_for_a_strong_first_result(client):
    html = client.get("/?q=How+many+health+professionals+were+trained+in+newborn+care%3F").get_data(as_text=True)
    card = html[html.index('<section class="answer"'):html.index("</section>", html.index('<section class="answer"'))]
    assert "748,000 health professionals" in card and "/read?p=" in card and "UNICEF China 2023 Annual Report" in card
    weak = client.get("/?q=history+of+the+Roman+empire&min_score=0").get_data(as_text=True)
    assert '<section class="answer"' not in weak


def test_the_total_is_shown_and_filters_say_how_to_write_a_date(client):
    html = client.get("/?q=children").get_data(as_text=True)
    assert re.search(r"Results 1–\d+ · about \d+ strong or partial match", html)
    assert "A year (2023), a month (2023-04) or a day (2023-04-30)." in html
    bad = client.get("/?q=children&date_from=April+2024")
    assert bad.status_code == 400 and "YYYY, YYYY-MM or YYYY-MM-DD" in bad.get_data(as_text=True)


def test_a_results_section_filters_the_search_by_that_section(client):
    import html as entities

    page = client.get("/?q=children").get_data(as_text=True)
    link = entities.unescape(re.search(r'<span class="section"><a href="([^"]+)"', page).group(1))
    section = re.search(r"section=([^&]+)", link).group(1)
    filtered = client.get(link).get_data(as_text=True)
    shown = re.findall(r'<span class="section"><a [^>]*>([^<]+)</a>', filtered)
    assert shown and all(entities.unescape(s).startswith(entities.unescape(section.replace("+", " "))[:40]) for s in shown)
    assert 'selected>' in filtered[filtered.index('id="f-section"'):filtered.index("</select>", filtered.index('id="f-section"'))]
