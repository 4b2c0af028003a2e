"""`kb.named`: which words of an organisation's name tell it apart, and when a question names it."""

from index.analysis import Analyzer
from kb.named import name_terms, names

ANALYSE = Analyzer()


def test_legal_forms_tell_no_organisation_apart():
    assert name_terms("3M Company", ANALYSE) == ("3m",)
    assert name_terms("JPMorgan Chase & Co.", ANALYSE) == ("jpmorgan", "chase")
    assert name_terms("Lockheed Martin Corporation", ANALYSE) == ("lockhe", "martin")
    assert name_terms("The Holdings Group plc", ANALYSE) == ()


def test_an_organisation_named_by_an_ampersand_code_can_be_named():
    """Bug: "AT&T Inc." had no name at all (every letter of "AT&T" was lost), so no question
    could name AT&T and its reports got no organisation's bonus."""
    att = name_terms("AT&T Inc.", ANALYSE)
    assert att == ("at&t",)
    assert names(set(ANALYSE("AT&T free cash flow 2022")), att, [5.0])
    assert not names(set(ANALYSE("free cash flow at T-Mobile")), att, [5.0])


def test_a_question_names_an_organisation_holding_half_its_names_weight():
    jpm = name_terms("JPMorgan Chase & Co.", ANALYSE)
    assert names(set(ANALYSE("JPMorgan net income")), jpm, [1.6, 1.6])
    bank = name_terms("Bank of America Corporation", ANALYSE)
    assert not names(set(ANALYSE("bank capital ratio")), bank, [1.0, 3.0])  # the common word alone
    assert names(set(ANALYSE("Bank of America capital ratio")), bank, [1.0, 3.0])
    assert not names(set(ANALYSE("anything")), (), [])


def test_organisations_name_the_documents_a_question_names_and_give_their_passages(fake_kb, tmp_path):
    """`Organisations` over a real store and BM25 index: the documents of the organisation a
    question names (every edition), and exactly their passages, as the store filters them."""
    for name, year in (("Acme Corporation", 2021), ("Acme Corporation", 2022), ("Globex Corporation", 2022)):
        (tmp_path / f"{name.split()[0].lower()}-{year}.md").write_text(
            f"# {name} Annual Report {year}\n\n## Results\n\nRevenue grew in {year}.\n\n## Outlook\n\nWe expect more growth.")
    assert not fake_kb.ingest([tmp_path]).failed
    organisations = fake_kb.searcher.provenance.organisations(fake_kb.engine())
    acme = tuple(sorted(d.id for d in fake_kb.documents() if d.organisation == "Acme Corporation"))
    assert len(acme) == 2 and organisations.named("Acme revenue 2022") == acme
    assert organisations.named("revenue growth") == ()
    keys = organisations.passages(acme)
    assert keys.tolist() == sorted(fake_kb.store.allowed_keys({"document": list(acme)}).tolist()) and len(keys)
    assert organisations.passages(acme) is keys  # remembered


def test_a_trading_symbol_in_capitals_is_spelled_out_as_its_organisation(fake_kb, tmp_path):
    """Analysts write "MMM" or "AMD" for a company; its documents print the symbol once, on the
    cover. In capitals, as printed, it reads as the name, unless its word is the collection's
    own (a stop word, or held by more of other organisations' passages than of its own); in
    lower case it is a word."""
    from kb.named import Organisations

    (tmp_path / "3m.md").write_text("# 3M Company Annual Report 2022\n\nCommon Stock MMM New York Stock Exchange."
                                    "\n\n## Results\n\nCost of sales rose.")
    (tmp_path / "costco.md").write_text("# Costco Wholesale Corporation Report 2023\n\nCommon Stock COST NASDAQ."
                                        "\n\n## Results\n\nNet sales grew.")
    (tmp_path / "other.md").write_text("# Acme Corporation Report 2023\n\nCosts fell. IT spending rose. The cost of goods fell.")
    assert not fake_kb.ingest([tmp_path]).failed
    engine = fake_kb.engine()
    documents = [(d.id, d.title.split(" Annual")[0].split(" Report")[0]) for d in fake_kb.documents()]
    read: list[int] = []  # when the symbols are read

    def symbols():
        read.append(1)
        return {"MMM": "3M Company", "COST": "Costco Wholesale Corporation", "IT": "Acme Corporation"}

    known = Organisations(engine, documents, lambda ids: fake_kb.store.allowed_keys({"document": list(ids)}), symbols)
    assert known.spelled_out("cost of sales") == "cost of sales" and not read  # no word in capitals: no cover is read
    assert known.spelled_out("MMM long-term debt 2022") == "3M Company long-term debt 2022"
    assert known.spelled_out("What is MMM's capex?") == "What is 3M Company's capex?"
    # an analyst's shorthand in capitals is no shouted sentence: a period, a figure or a year is no word
    assert known.spelled_out("MMM D&A 2022") == "3M Company D&A 2022"
    assert known.spelled_out("MMM FY2022 COGS") == "3M Company FY2022 COGS"
    for unchanged in ("cost of sales", "Cost of sales", "MMM26 notes", "COSTS", "WHAT WAS MMM'S COST OF SALES",
                      "COST net sales",  # "cost" is other documents' word more than Costco's
                      "IT spending"):  # a stop word
        assert known.spelled_out(unchanged) == unchanged
    assert Organisations(engine, documents, lambda ids: None).spelled_out("MMM debt") == "MMM debt"
    assert read == [1]  # read once
