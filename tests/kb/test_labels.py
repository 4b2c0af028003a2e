"""`kb.labels`: which lines may label a figure, and how well they label what a question asks."""

from index.analysis import Analyzer
from kb.labels import COVER, LINE_WORDS, _label_score, label_lines

ANALYSE = Analyzer()


def test_label_lines_keeps_the_lines_with_figures():
    text = "CONSOLIDATED BALANCE SHEETS\nInventories 8,454 8,420\nTotal assets $ 37,531 $ 40,321\nSee the notes."
    assert label_lines(text) == ("inventories 8,454 8,420", "total assets $ 37,531 $ 40,321")


def test_label_lines_leaves_out_prose():
    long_line = " ".join(["word"] * LINE_WORDS) + " 2023"
    assert label_lines(f"{long_line}\nno figure here") == ()


def test_a_line_holding_what_is_asked_and_little_else_scores_highest():
    idf = {"total": 1.0, "asset": 2.0, "nike": 5.0}
    title = frozenset({"nike"})  # what the title holds is not asked of the line
    row = label_lines("Total assets $ 37,740 $ 31,342")
    prose = label_lines("Total assets are tested for impairment annually at 2,000 sites")
    assert _label_score(row, idf, title, ANALYSE) == 1.0
    assert 0 < _label_score(prose, idf, title, ANALYSE) < 0.5
    assert _label_score(label_lines("Total revenues 51,217"), idf, title, ANALYSE) == 0.0  # a third of what is asked
    assert COVER > 1 / 3
    assert _label_score(label_lines("2023 2022 2021\n$ 1,234 (56)"), idf, title, ANALYSE) == 0.0  # figures label nothing
    assert _label_score(row, {"nike": 5.0}, title, ANALYSE) == 0.0  # nothing asked beyond the title


def test_a_word_whose_stem_ends_differently_is_still_found():
    """"Inventories" stems to "inventori": the line is analysed because it begins the same way."""
    idf = {ANALYSE("inventory")[0]: 1.0}
    assert _label_score(label_lines("Inventories 6,854 7,367"), idf, frozenset(), ANALYSE) == 1.0
