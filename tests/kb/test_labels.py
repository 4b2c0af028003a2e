"""`kb.labels`: which lines may label a figure, and how well they label what a question asks."""

import os
import subprocess
import sys

from index.analysis import Analyzer
from kb.labels import COVER, LINE_WORDS, label_lines, label_scores

ANALYSE = Analyzer()
ROW = label_lines("CONSOLIDATED BALANCE SHEETS\nTotal assets $ 37,740 $ 31,342\nSee the notes.")
PROSE = label_lines("Total assets are tested for impairment annually at 2,000 sites")


def _idf(*words: str, weight: float = 2.0) -> dict[str, float]:
    return {ANALYSE(w)[0]: weight for w in words}


def test_label_lines_keeps_the_lines_with_figures():
    text = "CONSOLIDATED BALANCE SHEETS\nInventories 8,454 8,420\nTotal assets $ 37,531 $ 40,321\nSee the notes."
    assert label_lines(text) == ("inventories 8,454 8,420", "total assets $ 37,531 $ 40,321")


def test_label_lines_leaves_out_prose():
    long_line = " ".join(["word"] * LINE_WORDS) + " 2023"
    assert label_lines(f"{long_line}\nno figure here") == ()


def test_a_line_holding_what_is_asked_and_little_else_scores_highest():
    idf = {**_idf("total", "assets"), "nike": 5.0}
    title = frozenset({"nike"})  # what the title holds is not asked of the line
    row, prose = label_scores(idf, [ROW, PROSE], [title, title], ANALYSE)
    assert row == 1.0 and 0 < prose < 0.5


def test_a_line_holding_less_than_half_of_what_is_asked_labels_nothing():
    idf = _idf("total", "revenues", "growth")  # the revenue line holds two thirds, the assets line a third
    assert COVER > 1 / 3
    revenue, assets = label_scores(idf, [label_lines("Total revenues 51,217 growth"), ROW], [frozenset()] * 2, ANALYSE)
    assert revenue > 0 and assets == 0.0


def test_figures_label_nothing_and_a_question_asking_only_the_title_moves_nothing():
    title = frozenset({"nike"})
    assert label_scores(_idf("total"), [label_lines("2023 2022 2021\n$ 1,234 (56)")], [title], ANALYSE) == [0.0]
    assert label_scores({"nike": 5.0}, [ROW], [title], ANALYSE) == [0.0]


def test_words_of_the_asking_that_no_line_holds_do_not_count():
    """"... Give a response to the question by relying on the details shown in the balance
    sheet": reports seldom use these words, so their IDF would outweigh "total assets"."""
    idf = {**_idf("total", "assets"), **_idf("give", "response", "question", "relying", "shown", weight=6.0)}
    assert label_scores(idf, [ROW, PROSE], [frozenset()] * 2, ANALYSE)[0] == 1.0


def test_a_word_whose_stem_ends_differently_is_still_found():
    """"Inventories" stems to "inventori": the line is analysed because it begins the same way."""
    assert label_scores(_idf("inventory"), [label_lines("Inventories 6,854 7,367")], [frozenset()], ANALYSE) == [1.0]


def test_a_label_is_the_same_whatever_order_a_set_is_iterated_in():
    """Bug: the IDF held by a line was summed in set order, which the hash seed picks, so a
    line holding exactly half of what is asked read 0.49999999999999994 in one process and
    0.5 in another: "Microsoft effective tax rate fiscal 2023" ranked its passages in two
    ways depending on the server's start. Exactly rounded sums give one answer."""
    code = ("from index.analysis import Analyzer; from kb.labels import label_lines, label_scores; "
            "idf = {'alpha': 0.1, 'beta': 0.2, 'gamma': 0.3, 'delta': 0.6}; "
            "print(repr(label_scores(idf, [label_lines('Alpha beta gamma 12'), label_lines('Delta 5')],"
            " [frozenset()] * 2, Analyzer())[0]))")
    seen = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": str(seed)},
                           capture_output=True, text=True, check=True).stdout.strip() for seed in range(8)}
    assert seen == {"0.5"}
