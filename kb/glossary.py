"""Reporting terms under their other names: "capex" finds "Purchases of property and equipment".

An analyst asks in the words of the trade ("capex", "COGS", "SG&A", "PP&E"); a statement
prints the line's own name ("Additions to property and equipment", "Total cost of
revenue"). Neither retriever bridges that: BM25 has no word in common, and a small embedding
model reads "capex" as noise. A glossary does, as search products have long done with
synonym lists: a query holding one name of a group also looks for the others.

Only for a name the collection itself seldom uses. Adding every other name to a query that
already says "cost of sales" in a collection full of "cost of sales" only dilutes it. So
a name is added only when it is clearly commoner in this collection than the name the
question used: its rarest word is at least `RARER` nats of IDF commoner (about e times more
passages hold it). The query as asked still decides relevance and what counts as matched;
only retrieval looks wider.

A measure computed from lines ("current ratio", "days payable outstanding", "free cash
flow") is printed in no statement; the lines it is computed from are. A measure's entry names
them, and a question naming the measure has those lines labelled as what it asks for
(`kb.labels`), within the documents retrieval found: it does not widen retrieval (adding "total
current assets; total current liabilities" to every question about a ratio diluted it). So does
a question asking for a line by one of its names ("Nike D&A fiscal 2021"): the statement prints
it under another ("Depreciation"), and MD&A prose naming the trade word came first. Not a
question about the line (why it moved, what share of it, how it changed): prose answers that.

The file is a list of entries, one per line, `#` comments. A group is names separated by
commas. A measure is its names, "=>", then the lines it is computed from separated by ";",
each line as names separated by "|" (and, when one of them names a group, that group's names).
Phrases match whole words, case-insensitively, a plural "s" ignored; "&" stays inside a
word ("r&d"). A group's entry should be a phrase, an abbreviation or a word only the trade
uses for the thing ("headcount"), never one common word.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["BUNDLED", "RARER", "Glossary", "load_glossary"]

BUNDLED = Path(__file__).with_name("glossary.txt")
RARER = 1.0  # IDF (nats) by which the query's own name must be rarer than a name added for it
_WORD = re.compile(r"\w+(?:&\w+)*")
# a question about a line rather than for it: why it moved, what share of it, how it changed,
# what is expected of it. Prose that says so answers it, not the line ("What percentage of
# Lockheed Martin's 2020 net sales came from the US Government?" is no question for net sales)
_ABOUT = re.compile(r"\b(?:why|percent\w*|share\s+of|proportion|chang\w*|growth|grow\w*|increas\w*|decreas\w*|"
                    r"declin\w*|outlook|guidance|forecast\w*|expect\w*|ratio|compared|versus|vs)\b|%", re.I)


def _words(text: str) -> str:
    """Lower-cased words between spaces (" cost of sale "), "&" kept inside one ("r&d"), a
    plural "s" dropped (not "ss"): a name is held when its words are in the query's."""
    words = (w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in _WORD.findall(text.lower()))
    return f" {' '.join(words)} "


Names = tuple[tuple[str, str], ...]  # each name as written, and its `_words`


def _names(text: str, separator: str) -> Names:
    return tuple((p.strip(), _words(p)) for p in text.split(separator) if p.strip())


@dataclass(frozen=True)
class Glossary:
    groups: tuple[Names, ...]
    measures: tuple[tuple[Names, tuple[Names, ...]], ...] = ()  # a measure's names, and the lines it is computed from

    @classmethod
    def parse(cls, text: str, source: str = "glossary") -> Glossary:
        groups, measures = [], []
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if "=>" in line:
                left, _, right = line.partition("=>")
                names, inputs = _names(left, ","), tuple(_names(part, "|") for part in right.split(";"))
                if not names or not all(inputs) or not all(w.strip() for _, w in names + sum(inputs, ())):
                    raise ValueError(f"{source} line {n}: a measure is names separated by commas, \"=>\", then the lines "
                                     "it is computed from separated by \";\" (each as names separated by \"|\")")
                measures.append((names, inputs))
                continue
            names = _names(line, ",")
            if len(names) < 2 or not all(words.strip() for _, words in names):
                raise ValueError(f"{source} line {n}: a group is two or more names separated by commas")
            groups.append(names)
        return cls(tuple(groups), tuple(measures))

    def measures_in(self, query: str) -> list[str]:
        """The names of measures the query holds, as written in the glossary."""
        words = _words(query)
        return [written for names, _ in self.measures for written, name in names if name in words]

    def lines_for(self, query: str) -> list[str]:
        """The names of the lines a query asks for: those the measures it names are computed
        from, with the other names of their groups ("free cash flow" -> "operating cash flow",
        ..., "net cash from operations", "capex", ..., "additions to property and equipment"),
        and, when it asks for a line of a group by one of its names and not about it
        (`_ABOUT`), that group's names ("Microsoft FY2023 COGS" -> ..., "cost of revenue"):
        the statement printing the line answers, not the prose that names the trade word."""
        words = _words(query)
        out: dict[str, None] = {}
        if not _ABOUT.search(query):
            for group in self._named(words):
                out.update(dict.fromkeys(w for w, _ in group))
        for names, inputs in self.measures:
            if not any(name in words for _, name in names):
                continue
            for line in inputs:
                for written, name in line:
                    out[written] = None
                    for group in self.groups:
                        if any(name == other for _, other in group):
                            out.update(dict.fromkeys(w for w, _ in group))
        return list(out)

    def holds(self, query: str) -> bool:
        """Whether the query holds a name of one of the groups."""
        return bool(self._named(_words(query)))

    def _named(self, words: str) -> list[Names]:
        """The groups one of whose names `words` (a query's `_words`) holds, in glossary order."""
        return [group for group in self.groups if any(name in words for _, name in group)]

    def additions(self, query: str, rarity: Callable[[str], float]) -> list[str]:
        """The names the query also looks for, in glossary order: for each group whose name
        it holds, the group's other names that are `RARER` commoner than that one.
        `rarity(text)`: the IDF of its rarest word in the collection (inf when none)."""
        words = _words(query)
        out: dict[str, None] = {}
        for group in self._named(words):
            held = [written for written, name in group if name in words]
            asked = min(rarity(written) for written in held)
            for written, name in group:
                if name not in words and rarity(written) < asked - RARER:
                    out[written] = None
        return list(out)

    def widen(self, query: str, rarity: Callable[[str], float]) -> str:
        """The query with the names it also looks for appended, or the query itself."""
        added = self.additions(query, rarity)
        return f"{query} ({'; '.join(added)})" if added else query


def load_glossary(setting: str) -> Glossary | None:
    """The `glossary` setting: "bundled", "none", or a path to a file in the same format."""
    if setting == "none":
        return None
    path = BUNDLED if setting == "bundled" else Path(setting).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"setting glossary: cannot read {path}: {exc.strerror or exc}") from None
    return Glossary.parse(text, str(path))


def idf_rarity(analyser: Callable[[str], list[str]], idf: Callable[[list[str]], object]) -> Callable[[str], float]:
    """`Glossary.additions`' rarity over a lexical index: the largest IDF of a text's terms;
    a name with no term the analyser keeps (stop words only) counts as rarest."""
    def rarity(text: str) -> float:
        terms = analyser(text)
        return max(idf(terms).tolist()) if terms else math.inf  # type: ignore[attr-defined]
    return rarity
