"""`kb.named`: which words of an organisation's name tell it apart, and when a question names it."""

from index.analysis import Analyzer
from kb.named import name_terms, names

ANALYSE = Analyzer()


def test_legal_forms_tell_no_organisation_apart():
    assert name_terms("3M Company", ANALYSE) == ("3m",)
    assert name_terms("JPMorgan Chase & Co.", ANALYSE) == ("jpmorgan", "chase")
    assert name_terms("Lockheed Martin Corporation", ANALYSE) == ("lockhe", "martin")
    assert name_terms("The Holdings Group plc", ANALYSE) == ()


def test_a_question_names_an_organisation_holding_half_its_names_weight():
    jpm = name_terms("JPMorgan Chase & Co.", ANALYSE)
    assert names(set(ANALYSE("JPMorgan net income")), jpm, [1.6, 1.6])
    bank = name_terms("Bank of America Corporation", ANALYSE)
    assert not names(set(ANALYSE("bank capital ratio")), bank, [1.0, 3.0])  # the common word alone
    assert names(set(ANALYSE("Bank of America capital ratio")), bank, [1.0, 3.0])
    assert not names(set(ANALYSE("anything")), (), [])
