import pytest

from kb.cleaning import clean_text


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("especially the most vulnerable.To achieve the goals", "especially the most vulnerable. To achieve the goals"),
        ("these goals.UNICEF made progress", "these goals. UNICEF made progress"),
        ("its partners:Trained almost 748,000", "its partners: Trained almost 748,000"),
        ("newborn care.Trained more", "newborn care. Trained more"),
        ("more than 1.1 million children", "more than 1.1 million children"),
        ("the U.S. and the U.K. agreed", "the U.S. and the U.K. agreed"),
        ("visit www.unicef.org today", "visit www.unicef.org today"),
        ("‘pilots to policy to scale’ and “quoted”", "'pilots to policy to scale' and \"quoted\""),
        ("Minors’ Online Protection", "Minors' Online Protection"),
        ("  many \t spaces\n\nand lines  ", "many spaces and lines"),
        ("protec-\ntion of children", "protection of children"),
        ("well-being stays", "well-being stays"),
        ("soft\u00adhyphen and zero\u200bwidth", "softhyphen and zerowidth"),
        ("ﬁnance ﬂows", "finance flows"),
        ("3M™ Cubitron™ II abrasives, Scotch-Brite℠ pads", "3M Cubitron II abrasives, Scotch-Brite pads"),  # not CubitronTM
        ("", ""),
    ],
)
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean
