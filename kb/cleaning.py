"""Text cleaning for indexing. The original text is kept for display; this is what gets embedded."""

from __future__ import annotations

import re
import unicodedata

from index.analysis import TRADEMARKS

__all__ = ["clean_text"]

_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"', "«": '"', "»": '"'})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# A word broken across a line end by a hyphen: "protec-\ntion".
_HYPHEN_BREAK = re.compile(r"(?<=[a-z])-\s*\n\s*(?=[a-z])")
# Sentences glued by a lost space, as web scraping leaves them: "most vulnerable.To achieve".
_GLUED = re.compile(r"(?<=[a-z0-9%)\]'\"])([.!?;:]+)(?=[A-Z][a-z]|[A-Z]{2,}\b)")
_SPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Normalise Unicode, quotes and white space; repair glued sentences and broken words."""
    text = unicodedata.normalize("NFKC", text.translate(TRADEMARKS)).translate(_INVISIBLE).translate(_QUOTES)
    text = _CONTROL.sub(" ", text)
    text = _HYPHEN_BREAK.sub("", text)
    text = _GLUED.sub(r"\1 ", text)
    return _SPACE.sub(" ", text).strip()
