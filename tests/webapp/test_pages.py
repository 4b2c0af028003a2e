from kb import KnowledgeBase, Settings
from webapp import create_app


def test_empty_page_shows_the_search_box(client):
    r = client.get("/")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert '<form class="search" method="get"' in page and 'name="q"' in page
    assert "Content-Security-Policy" in r.headers and r.headers["X-Content-Type-Options"] == "nosniff"


def test_results_are_rendered_on_the_server_with_highlights(client):
    page = client.get("/", query_string={"q": "what was done on online child protection"}).get_data(as_text=True)
    first = page.split('<li class="result"', 2)[1]
    assert "UNICEF China 2023 Annual Report" in first and "2024-04-19" in first
    assert "<mark>The State Council approved the Regulations on Minors’ Online Protection" in first
    assert 'value="what was done on online child protection"' in page


def test_each_result_says_how_well_it_matches(client):
    page = client.get("/", query_string={"q": "what was done on online child protection"}).get_data(as_text=True)
    first = page.split('<li class="result"', 2)[1]
    assert 'class="match match-strong"' in first and "strong match" in first


def test_a_query_nothing_answers_says_so_instead_of_showing_noise(client):
    page = client.get("/", query_string={"q": "quantum chromodynamics of zebra xylophones"}).get_data(as_text=True)
    assert '<li class="result"' not in page
    assert "No passage matched “quantum chromodynamics of zebra xylophones” well" in page


def test_bad_parameters_give_a_friendly_page_not_a_500(client):
    for qs in ({"q": "a", "k": "lots"}, {"q": "a", "mode": "nope"}, {"q": "x" * 5000}, {"q": "a", "k": "0"}):
        r = client.get("/", query_string=qs)
        assert r.status_code == 400 and 'class="error"' in r.get_data(as_text=True)


def test_a_query_with_markup_is_shown_as_text(client):
    evil = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    page = client.get("/", query_string={"q": evil}).get_data(as_text=True)
    assert "<script>alert(2)" not in page and "<img src=x" not in page
    assert 'value="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;"' in page


def test_a_report_with_markup_is_shown_as_text(tmp_path):
    report = tmp_path / "evil.txt"
    report.write_text("Evil Report\n\nThe <script>alert('x')</script> tag and <b>bold</b> words about water pumps.\n")
    settings = Settings.load(env={}, home=tmp_path / "home", model="hash", min_score=0.0)
    KnowledgeBase(settings).ingest([report])
    client = create_app({"KB_SETTINGS": settings}).test_client()
    page = client.get("/", query_string={"q": "water pumps script"}).get_data(as_text=True)
    assert "&lt;script&gt;alert(" in page and "<script>alert(" not in page and "<b>bold</b>" not in page
