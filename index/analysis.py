"""Text analysis for BM25: the words a passage or a query is indexed and searched by.

Latin, Greek and Cyrillic words are lower-cased, accent-folded ("café" = "cafe"), stop words
dropped and Snowball-stemmed. Chinese, Japanese and Korean have no spaces between words (or,
in Korean, particles glued to them), so a run of their characters is indexed as overlapping
character bigrams ("儿童保护" -> 儿童 童保 保护), as Lucene's CJK analyzer does: a query's bigrams
then match wherever its words occur, with no dictionary to ship.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["Analyzer"]

_TOKEN = re.compile(r"\w\w+")  # runs of two or more word characters (same as \b\w\w+\b)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]+")
_SPLIT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]+|\w+")


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


def _fold_latin(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _bigrams(run: str) -> list[str]:
    return [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


class Analyzer:
    """Lower-case word tokens, English stop words dropped, Snowball-stemmed."""

    def __init__(self, language: str = "english"):
        import Stemmer

        self.language = language
        self._stem = Stemmer.Stemmer(language).stemWords
        self._words: dict[str, str] = {}  # word -> stem, "" for a stop word

    def __call__(self, text: str) -> list[str]:
        """Each word is stemmed once per process and then looked up: 4x faster on passages
        (2.3 against 9.2 ms for fifty SciFact abstracts), which the reranker analyses per query.
        The lookups run in C (`map`, `filter`): 38 against 60 us for one passage."""
        words = self._words
        if len(words) > 1_000_000:  # bounded: a vocabulary is far smaller, junk tokens are not
            words.clear()
        if not text.isascii():
            return [term for _, term in self._pairs(text)]
        tokens = _TOKEN.findall(text.lower())
        new = list(set(tokens).difference(words))
        if new:
            stop = _stopwords()
            for token, stem in zip(new, self._stem(new)):
                words[token] = "" if token in stop else stem
        return list(filter(None, map(words.__getitem__, tokens)))

    def _pairs(self, text: str) -> list[tuple[str, str]]:
        """(word, term) in order for text beyond ASCII: folded words and CJK bigrams."""
        out = []
        for token in _SPLIT.findall(_fold(text.lower())):
            if _CJK.match(token):
                out += [(gram, gram) for gram in _bigrams(token)]
            elif len(token) >= 2:
                stem = self._words.get(token)
                if stem is None:
                    stem = self._words[token] = "" if token in _stopwords() else self._stem([token])[0]
                if stem:
                    out.append((token, stem))
        return out

    def pairs(self, text: str) -> list[tuple[str, str]]:
        """(word, stem) for each word that is not a stop word, in order: what a stem stood
        for in a text, so people see "protection" rather than "protect"."""
        if not text.isascii():
            return self._pairs(text)
        tokens = _TOKEN.findall(text.lower())
        stems = self(text)  # the same words, stop words dropped, in the same order
        return list(zip(filter(lambda t: self._words.get(t), tokens), stems))
