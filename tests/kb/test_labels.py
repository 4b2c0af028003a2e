"""`kb.labels`: which lines label a figure, and how well they label what a question asks."""

from index.analysis import Analyzer
from kb.labels import COVER, LINE_WORDS, _label_score, label_lines

ANALYSE = Analyzer()


def test_label_lines_keeps_the_words_of_lines_with_figures():
    text = "CONSOLIDATED BALANCE SHEETS\nInventories 8,454 8,420\nTotal assets $ 37,531 $ 40,321\nSee the notes."
    assert label_lines(text, ANALYSE) == (("inventori",), ("total", "asset"))


def test_label_lines_leaves_out_prose_and_lines_of_figures_alone():
    long_line = " ".join(["word"] * LINE_WORDS) + " 2023"
    assert label_lines(f"{long_line}\n2023 2022 2021\n$ 1,234 (56)", ANALYSE) == ()


def test_a_line_holding_what_is_asked_and_little_else_scores_highest():
    idf = {"total": 1.0, "asset": 2.0, "nike": 5.0}
    title = frozenset({"nike"})  # what the title holds is not asked of the line
    row = (("total", "asset"),)
    prose = (("total", "asset", "valu", "impair", "test", "annual"),)
    assert _label_score(row, idf, title) == 1.0
    assert 0 < _label_score(prose, idf, title) < 0.5
    assert _label_score((("total", "revenu"),), idf, title) == 0.0  # a third of what is asked: below COVER
    assert COVER > 1 / 3
    assert _label_score(row, {"nike": 5.0}, title) == 0.0  # nothing asked beyond the title
