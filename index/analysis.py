"""Text analysis for BM25: the words a passage or a query is indexed and searched by.

Latin, Greek and Cyrillic words are lower-cased, accent-folded ("café" = "cafe"), stop words
dropped and Snowball-stemmed. Figures and codes stay whole terms: "2,053" and "$2,053" are
the term 2053 (as is "2053"), "12.5%" is 12.5, "1.10" is 1.1; "FY2022", "FY22" and "FY'22"
are fy2022 and 2022. A hyphenated code or name ("10-K", "COVID-19", "South-South") is the
whole term and its parts of two or more characters, so "10-K" matches "10-K" exactly and
"South-South" still matches "south"; a code's whole term is written joined (one of its parts
holds a figure or is one letter), so "10K", "COVID19" and "email" match "10-K", "COVID-19"
and "e-mail" (as Lucene's word-delimiter filter catenates). So is an ampersand code of short
parts ("R&D", "SG&A", "PP&E", "AT&T"), which would otherwise lose every letter to the
two-character minimum or the stop words. A
figure followed by its scale ("90 million", "$1.5 billion") is also one term, 90_million, after
the scale's own: BM25 scores words apart, so a table headed "(Millions)" with a cell "90"
held "90 million" as well as a sentence saying it.

Chinese, Japanese and Korean have no spaces between words (or, in Korean, particles glued to
them), so a run of their characters is indexed as overlapping character bigrams ("儿童保护" ->
儿童 童保 保护), as Lucene's CJK analyzer does: a query's bigrams then match wherever its words
occur, with no dictionary to ship.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from functools import lru_cache
from itertools import accumulate, chain
from typing import Iterable

__all__ = ["Analyzer", "TRADEMARKS", "asked", "full_year", "is_figure", "stop_words"]

_CJK_CHARS = "\u3005-\u3007\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
_DASHES = "\u2010\u2011\u2012\u2013"  # hyphen, non-breaking hyphen, figure dash, en dash
# Runs of word characters joined by a hyphen, comma, point or ampersand: one token, told apart
# in `_terms` (a figure, a hyphenated or ampersand code, or words glued by punctuation,
# "vulnerable.To"). One simple pattern keeps tokenising as fast as the plain \w\w+ it replaced.
_WORDS = rf"\w+(?:[-{_DASHES},.&]\w+)*"
_TOKEN = re.compile(_WORDS)
_CJK = re.compile(f"[{_CJK_CHARS}]+")
_LATIN = rf"[^\W{_CJK_CHARS}]+(?:[-{_DASHES},.&][^\W{_CJK_CHARS}]+)*"  # the same, stopping at CJK characters
_SPLIT = re.compile(f"[{_CJK_CHARS}]+|{_LATIN}")
_PIECES = re.compile(f"([{_CJK_CHARS}]+|{_LATIN})")
_FIGURE = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)+")
_HYPHENATED = re.compile(rf"\w+(?:[-{_DASHES}]\w+)+")
_PARTS = re.compile(rf"[-{_DASHES},.&]")
_RANGE = re.compile(rf"\d+(?:[-{_DASHES}]\d+)+")  # 2020-2021, 1-800: figures, not one word written two ways
_AMPERSAND = re.compile(r"[^\W_]{1,3}(?:&[^\W_]{1,3})+")  # r&d, sg&a, pp&e, at&t: not johnson&johnson
_PERIOD_CODE = r"(fy|cy|q[1-4]|h[12])"  # a fiscal or calendar year, a quarter, a half
_PERIOD = re.compile(_PERIOD_CODE + r"(\d{2}|\d{4})")  # glued to its year: fy2022, fy22, q42022
# a quarter as reports write it out: "Q1 2023" asks what "the first quarter of 2023" reports. (Not
# "H1" and "H2": hydrogen, headings and receptors outnumber half-years in text at large.)
_PERIOD_WORDS = {"q1": ("first", "quarter"), "q2": ("second", "quarter"), "q3": ("third", "quarter"),
                 "q4": ("fourth", "quarter")}
_SCALES = {w + s: w for w in ("thousand", "million", "billion", "trillion") for s in ("", "s")}
_SCALED = re.compile(r"\d\s+(?:thousand|[mbtr]illion)")  # a figure and its scale: only then is a text walked token by token
_DIGITS = re.compile(r"[\d.]+")  # an analysed figure: "90", "2053", "12.5"
_JOINED = re.compile(r"[\d.]+_[a-z]+")  # a figure joined to its scale: "90_million"
# Text that goes through every rule above: what it analyses to is the analysis's signature
_PROBE = ("How many of the 2,053 centres, $1,577 million and 12.5% to 1.10 in FY2022, FY17, Q4 2022 and Q422 "
          "and FY'23, filed a Form 10-K, 10-Q or 8-K? R&D, SG&A, PP&E and AT&T; Johnson&Johnson; Research & Development; "
          "non-controlling, post-retirement and COVID-19 in 2020-2021; South-South co-operation; vulnerable.To "
          "the café, naïve Ångström; 儿童保护, 한국어 보고서, 日本語の報告書; running, runs, ran, protection, "
          "children's; 90 million, $1.5 billion, 2 thousand; how much did they have")


def _fold(text: str) -> str:
    """Accents off (NFKD without combining marks), CJK runs left whole: NFKD would take
    Hangul syllables apart into letters."""
    if text.isascii():
        return text
    parts, last = [], 0
    for m in _CJK.finditer(text):
        parts.append(_fold_latin(text[last:m.start()]))
        parts.append(m.group())
        last = m.end()
    parts.append(_fold_latin(text[last:]))
    return "".join(parts)


# ™ and ℠, dropped before NFKC or NFKD, which spell them "TM" and "SM" glued to the name ("CubitronTM");
# kb.cleaning drops them from what is embedded and indexed too
TRADEMARKS = dict.fromkeys(map(ord, "\u2122\u2120"))


def _fold_latin(text: str) -> str:
    """Accents off; a trademark sign dropped; lower case again, since what NFKD spells out
    ("ℌ", "Ⅳ") can be upper case."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text.translate(TRADEMARKS)) if not unicodedata.combining(c)).lower()


def _bigrams(run: str) -> list[str]:
    return [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]


_HOW_MUCH = re.compile(r"\bhow\s+(?:many|much)\b")  # "how many employees" is answered by a figure, not by "many"


_ELIDED = re.compile(r"\b" + _PERIOD_CODE + r" ?['’](\d{2})\b")  # fy'17, q2'23: a period with its year's digits elided


def _periods(text: str) -> str:
    """Lower-cased `text` with a period written with an apostrophe closed up ("FY'17" as "fy17",
    "Q2 ’23" as "q223"), which the tokens would otherwise split into a code and a bare figure."""
    return _ELIDED.sub(r"\1\2", text) if "'" in text or "’" in text else text


def _questions(text: str) -> str:
    """Lower-cased `text` with "how many" and "how much" as "how": the quantifier asks for a
    figure, which the answer gives ("approximately 116,000 employees"), so as a term it only
    counted against the answering passage. Elsewhere ("many children") it stays a word."""
    return _HOW_MUCH.sub("how", text) if "how" in text else text


def _lowered(text: str) -> str:
    """`text` as every rule reads it: lower-cased, the quantifier of "how many" dropped and
    elided periods closed up (terms and word pairs alike: `Analyzer.__call__`, `Analyzer.pairs`)."""
    return _periods(_questions(text.lower()))


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    """NLTK's 179 English stop words (as bm25s ships them), not Lucene's 33: question words
    ("how", "did", "have") are rare in reports, so BM25 weighed them above the question's
    subject. It raised BM25 and hybrid nDCG@10 on every judged collection (bench/QUALITY.md).
    ("many" and "much" after "how" go as well: `_questions`.)"""
    from bm25s.stopwords import STOPWORDS_EN_PLUS as STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def stop_words() -> frozenset[str]:
    """The stop words the analysis drops (`_stopwords`), for other readers of text."""
    return _stopwords()


class Analyzer:
    """Lower-case word tokens, figures and codes whole, English stop words dropped,
    Snowball-stemmed; CJK as character bigrams."""

    def __init__(self, language: str = "english"):
        import Stemmer

        self.language = language
        self._stem = Stemmer.Stemmer(language).stemWords
        self._words: dict[str, tuple[str, ...]] = {}  # token -> its terms, () for a stop word
        self._signature: str | None = None

    @property
    def signature(self) -> str:
        """A digest of how this analyser reads text: its language, its stop words, and the
        terms and word pairs of a probe text that goes through every rule. Index files record
        it, so files analysed by another version of the rules are rebuilt rather than searched
        with terms they do not hold (a format number alone relies on someone bumping it)."""
        if self._signature is None:
            probe = json.dumps([self.language, sorted(_stopwords()), self(_PROBE), self.pairs(_PROBE)], ensure_ascii=False)
            self._signature = hashlib.sha256(probe.encode()).hexdigest()[:16]
        return self._signature

    def __call__(self, text: str) -> list[str]:
        """Each token is analysed once per process and then looked up: several times faster on
        passages, which highlights and the reranker analyse per query. The lookups run in C
        (`map`, `chain`), faster than a Python loop over the tokens."""
        text = _lowered(text)
        if not text.isascii():
            if _CJK.search(text):
                return [term for _, term in self._pairs(text)]
            text = _fold_latin(text)
        tokens = _TOKEN.findall(text)
        words = self._learn(tokens)
        if _has_scale(text):  # a figure's scale is joined to it
            return _with_scales(tokens, words)
        return list(chain.from_iterable(map(words.__getitem__, tokens)))

    def _learn(self, tokens: list[str]) -> dict[str, tuple[str, ...]]:
        words = self._words
        if len(words) > 1_000_000:  # bounded: a vocabulary is far smaller, junk tokens are not
            words.clear()
        new = list(set(tokens).difference(words))
        if not new:
            return words
        stop = _stopwords()
        plain = [t for t in new if (t.isalnum() or "_" in t and t.replace("_", "").isalnum()) and not _PERIOD.fullmatch(t)
                 and t not in _PERIOD_WORDS]
        for token, stem in zip(plain, self._stem(plain)):
            words[token] = () if len(token) < 2 or token in stop else (stem,)
        for token in set(new).difference(plain):
            words[token] = tuple(self._terms(token, stop))
        return words

    def _terms(self, token: str, stop: frozenset[str]) -> list[str]:
        """A figure as one normalised term; a period code as itself and its year, the year in
        full ("FY22" and "FY2022" are fy2022 and 2022: a question saying "fiscal 2022" finds the
        report titled FY2022, and one saying "FY17" the passages saying 2017; a two-digit year is
        2000-2068 or 1969-1999, as strptime reads it); a hyphenated
        code as itself and its parts; an ampersand code of short parts ("r&d") as itself,
        unstemmed, and its parts; words glued by a comma, point or "&" as those words."""
        if token in _PERIOD_WORDS:
            return [token, *_PERIOD_WORDS[token]]
        period = _PERIOD.fullmatch(token)
        if period:
            year = str(full_year(period.group(2)))
            return [period.group(1) + year, year, *_PERIOD_WORDS.get(period.group(1), ())]
        if _FIGURE.fullmatch(token):
            figure = token.replace(",", "")
            if figure.count(".") == 1:
                figure = figure.rstrip("0").rstrip(".") or "0"
            return [figure]
        parts = [p for p in _PARTS.split(token) if len(p) >= 2 and p not in stop]
        if _AMPERSAND.fullmatch(token):
            return list(dict.fromkeys([token, *self._stem(parts)]))
        if _HYPHENATED.fullmatch(token):
            # a code is also written joined ("10K", "COVID19", "email"); a word of letters keeps its
            # hyphen (joining "non-controlling" lowered CISI), and so does a range of figures
            pieces = re.split(f"[-{_DASHES}]", token)
            code = not _RANGE.fullmatch(token) and any(len(q) < 2 or any(c.isdigit() for c in q) for q in pieces)
            whole = ("" if code else "-").join(pieces)
            return list(dict.fromkeys(self._stem([whole, *parts])))
        return self._stem(parts)

    def _pairs(self, text: str) -> list[tuple[str, str]]:
        """(token, term) in order for text beyond ASCII: folded words and CJK bigrams."""
        out = []
        for token in _SPLIT.findall(_fold(text.lower())):
            if _CJK.match(token):
                out += [(gram, gram) for gram in _bigrams(token)]
            else:
                out += [(token, term) for term in self._learn([token])[token]]
        return out

    def pairs(self, text: str) -> list[tuple[str, str]]:
        """(word, term) for each term, in order: what a stem stood for in a text, so people
        see "protection" rather than "protect"."""
        text = _lowered(text)
        if not text.isascii():
            if _CJK.search(text):
                return self._pairs(text)
            text = _fold_latin(text)
        tokens = _TOKEN.findall(text)
        words = self._learn(tokens)
        if _has_scale(text):
            return _scaled(tokens, words)
        return [(token, term) for token in tokens for term in words[token]]

    @staticmethod
    def pieces(text: str) -> list[str]:
        """`text` cut into tokens as analysed and what lies between them, in order (the odd
        items are tokens): for marking query terms in a passage as written."""
        return _PIECES.split(text)


def _has_scale(text: str) -> bool:
    """Whether a lower-cased text writes a figure before a scale word (substring tests first:
    most texts have none, and those pay for no regex)."""
    return ("illion" in text or "thousand" in text) and _SCALED.search(text) is not None


def _figure(token: str, terms: tuple[str, ...]) -> str | None:
    """The figure a token writes, as its term (a one-digit figure is no term, but it can be
    scaled: "2 million"); None for any other token."""
    return terms[0] if len(terms) == 1 and _DIGITS.fullmatch(terms[0]) else token if token.isdigit() else None


def _with_scales(tokens: list[str], words: dict[str, tuple[str, ...]]) -> list[str]:
    """The terms of `tokens` as `_scaled` gives them, built as the plain chain is (in C) with
    the joined terms put in after: filings say "$90 million" in most passages."""
    runs = list(map(words.__getitem__, tokens))
    terms = list(chain.from_iterable(runs))
    ends = list(accumulate(map(len, runs)))
    for i in reversed([i for i in range(1, len(tokens)) if tokens[i] in _SCALES]):
        figure = _figure(tokens[i - 1], runs[i - 1])
        if figure is not None:
            terms.insert(ends[i], f"{figure}_{_SCALES[tokens[i]]}")
    return terms


def _scaled(tokens: list[str], words: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    """(token, term) in order, with a figure's scale also joined to it: "90 million" gives 90,
    million and 90_million (the joined term stands after the scale's own, as "90 million" ends
    there)."""
    out: list[tuple[str, str]] = []
    figure = None  # the term of the token before when it was a figure
    for token in tokens:
        terms = words[token]
        out += [(token, term) for term in terms]
        if figure is not None and token in _SCALES:
            out.append((token, f"{figure}_{_SCALES[token]}"))
        figure = _figure(token, terms)
    return out


def full_year(digits: str) -> int:
    """A year written with two digits or four, in full: 00-68 are 2000-2068 and 69-99 are
    1969-1999, as strptime reads %y ("FY17" is 2017)."""
    year = int(digits)
    return year if len(digits) > 2 else year + (2000 if year < 69 else 1900)


def is_figure(term: str) -> bool:
    """Whether an analysed term is a figure ("2053", "12.5", "90") or one joined to its scale
    ("90_million")."""
    return bool(_DIGITS.fullmatch(term) or _JOINED.fullmatch(term))


def asked(terms: Iterable[str]) -> list[str]:
    """The distinct terms a question asks (its analysed terms, in order), its figures' joined
    scales left out: "90_million" sharpens BM25's ranking, but a passage printing "$50" and
    "billion" apart holds what "$50 billion" asks, so shares of what is asked (the title prior,
    the relevance features) count words."""
    return [t for t in dict.fromkeys(terms) if not _JOINED.fullmatch(t)]
