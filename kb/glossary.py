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

The file is a list of groups, one per line: names separated by commas, `#` comments.
Phrases match whole words, case-insensitively, a plural "s" ignored; "&" stays inside a
word ("r&d"). An entry should be a phrase or an abbreviation, never one common word.
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


def _words(text: str) -> str:
    """Lower-cased words between spaces (" cost of sale "), "&" kept inside one ("r&d"), a
    plural "s" dropped (not "ss"): a name is held when its words are in the query's."""
    words = (w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in _WORD.findall(text.lower()))
    return f" {' '.join(words)} "


@dataclass(frozen=True)
class Glossary:
    groups: tuple[tuple[tuple[str, str], ...], ...]  # each name as written, and its `_words`

    @classmethod
    def parse(cls, text: str, source: str = "glossary") -> Glossary:
        groups = []
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            names = [(p.strip(), _words(p)) for p in line.split(",") if p.strip()]
            if len(names) < 2 or not all(words.strip() for _, words in names):
                raise ValueError(f"{source} line {n}: a group is two or more names separated by commas")
            groups.append(tuple(names))
        return cls(tuple(groups))

    def additions(self, query: str, rarity: Callable[[str], float]) -> list[str]:
        """The names the query also looks for, in glossary order: for each group whose name
        it holds, the group's other names that are `RARER` commoner than that one.
        `rarity(text)`: the IDF of its rarest word in the collection (inf when none)."""
        words = _words(query)
        out: dict[str, None] = {}
        for group in self.groups:
            held = [written for written, name in group if name in words]
            if not held:
                continue
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
    a name with no term the analyser keeps ("R&D" analyses to nothing) counts as rarest."""
    def rarity(text: str) -> float:
        terms = analyser(text)
        return max(idf(terms).tolist()) if terms else math.inf  # type: ignore[attr-defined]
    return rarity
