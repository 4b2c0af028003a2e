"""What a document is, read from its own first pages: title, organisation, date, period, kind.

File metadata is often wrong in published reports (PDF titles that are filing numbers or
"UNITED STATES", creation dates years off), so the text decides and file metadata is used
only where it agrees. Order of preference for the title: a filing's registrant and form
("3M Company Form 10-K 2022"), the cover page's largest text, the first heading, then a
readable form of the file name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from .structure import month_number, parse_date, parse_text, title_from_filename

__all__ = ["COVER_CHARS", "Metadata", "infer_metadata", "trading_symbols"]

_FORMS = {"10-K": "annual report", "10-K405": "annual report", "20-F": "annual report", "40-F": "annual report",
          "10-Q": "quarterly report", "8-K": "current report", "6-K": "current report", "S-1": "registration statement",
          "DEF 14A": "proxy statement"}
_FORM = re.compile(r"\bFORM\s+(10-K405|10-K|10-Q|8-K|6-K|20-F|40-F|S-1|DEF 14A)\b", re.I)
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_FY_END = re.compile(rf"fiscal\s+year\s+ended\s*:?\s*({_MONTH}\s+\d{{1,2}},?\s+(\d{{4}}))", re.I)
_QUARTER_END = re.compile(rf"quarterly\s+period\s+ended\b[\s\S]{{0,60}}?({_MONTH}\s+\d{{1,2}},?\s+(\d{{4}}))", re.I)
_EVENT = re.compile(rf"Date\s+of\s+Report[^:]*:\s*\(?\s*({_MONTH}\s+\d{{1,2}},?\s+\d{{4}})", re.I)
_ORDINAL = {"first": 1, "second": 2, "third": 3, "fourth": 4}
_QUARTER_WORDS = re.compile(r"\b(first|second|third|fourth)\s+quarter\s+(?:of\s+)?(?:fiscal\s+(?:year\s+)?)?(\d{4})\b", re.I)
_SUFFIX = re.compile(r"\b(INC|INCORPORATED|CORPORATION|CORP|COMPANY|CO|LTD|LIMITED|PLC|LLC|N\.V|S\.A|AG|SE|GROUP|HOLDINGS|& CO)\b\.?", re.I)
_BAD_TITLE = re.compile(r"^(?:\d{6,}|\d{10}-\d{2}-\d{6}|united states|table of contents|untitled|microsoft word\b.*|.*\.(?:docx?|pdf|indd))$", re.I)
_KINDS = [(re.compile(p, re.I), k) for p, k in [
    (r"\bannual report\b|\bannual review\b", "annual report"),
    (r"\bquarterly report\b|\binterim report\b", "quarterly report"),
    (r"\bpress release\b|\bannounces\b|\bearnings release\b", "press release"),
    (r"\bsustainability report\b|\besg report\b", "sustainability report"),
    (r"\bfinancial statements\b", "financial statements"),
]]


COVER_CHARS = 4000  # a filing's cover page, where its registrant and trading symbols are printed
_EXCHANGE = (r"(?:New\s+York\s+Stock\s+Exchange|NYSE(?:\s+(?:American|Arca))?|Nasdaq|NASDAQ|Chicago\s+Stock\s+Exchange|"
             r"Cboe|CBOE|NYSE\s+MKT|Toronto\s+Stock\s+Exchange)")
_SYMBOL = re.compile(rf"(?<![\w.&-])([A-Z]{{2,5}}(?:\.[A-Z])?)\s+(?:on\s+)?(?:the\s+|The\s+)?{_EXCHANGE}")
_QUOTED = re.compile(rf"\(\s*{_EXCHANGE}\s*:\s*([A-Z]{{2,5}}(?:\.[A-Z])?)\s*\)")  # a release's "(NASDAQ: ULTA)"
_NOT_SYMBOLS = {"NONE", "STOCK", "SHARE", "SHARES", "VALUE", "CLASS", "PER", "THE", "LLC", "INC", "USD", "NOTES", "DUE", "AND", "ON"}


def trading_symbols(cover: str) -> tuple[str, ...]:
    """The symbols a company's shares trade under, as its own first pages print them ("MMM",
    "NKE"): analysts name a company by it ("AMD", "MSFT"), and for some it is the everyday
    name. Since 2019 a US filing's cover has a "Trading Symbol(s)" column in its table of
    securities registered under Section 12(b), each symbol before its exchange's name; an
    earnings release writes "(NASDAQ: ULTA)". Nothing where neither is printed."""
    found = _QUOTED.findall(cover)[:1]  # its own comes first ("Ulta Beauty (NASDAQ: ULTA) today announced")
    at = re.search(r"Section\s+12\s*\(\s*b\s*\)", cover, re.I)
    block = cover[at.start():at.start() + 1500] if at else ""
    if re.search(r"trading\s+symbol", block, re.I):
        end = re.search(r"Section\s+12\s*\(\s*g\s*\)|Indicate\s+by\s+check", block, re.I)
        found = _SYMBOL.findall(block[:end.start()] if end else block) + found
    return tuple(dict.fromkeys(s for s in found if s not in _NOT_SYMBOLS))


_GENERIC = {"annual", "report", "review", "quarterly", "interim", "financial", "statements", "results", "summary",
            "the", "our", "fiscal", "year", "first", "second", "third", "fourth", "quarter", "half", "q1", "q2", "q3", "q4", "fy"}


@dataclass(frozen=True)
class Metadata:
    title: str
    date: str | None = None
    organisation: str | None = None
    period: str | None = None
    kind: str | None = None


def _tidy_name(name: str) -> str:
    """'LOCKHEED MARTIN CORPORATION' -> 'Lockheed Martin Corporation'; mixed case, and one word
    in capitals, are kept."""
    name = " ".join(name.strip(" ,.;:").split())
    if name.isupper() and " " in name:  # one word in capitals is an acronym: "UNICEF"
        words = []
        for w in name.split():
            core = w.strip(",.()")
            keep = len(core) <= 3 and (any(c.isdigit() for c in core) or core in {"AG", "SE", "PLC", "LLC", "NV", "SA", "UK", "US", "USA"})
            words.append(w if keep else w.capitalize())
        name = " ".join(words)
    return name + ("." if re.search(r"\b(?:Inc|Corp|Co|Ltd|N\.V|S\.A)$", name) else "")


def _registrant(lines: list[str]) -> str | None:
    """The company a filing is by: the line above "(Exact name of registrant ...)", or the
    first capitalised line on the cover that ends like a company name."""
    for i, line in enumerate(lines):
        if re.search(r"exact name of registrant", line, re.I):
            for prev in reversed(lines[max(0, i - 3):i]):
                cleaned = re.sub(r"\(.*?\)", "", prev).strip()
                if len(cleaned) > 2 and not re.search(r"commission file|^\W*$|\d{4,}", cleaned, re.I):
                    return _tidy_name(cleaned)
    for line in lines[:80]:
        cleaned = line.strip()
        if (3 <= len(cleaned) <= 60 and cleaned.upper() == cleaned and _SUFFIX.search(cleaned)
                and not re.search(r"SECURITIES|EXCHANGE|COMMISSION|ACT OF|STOCK|NOTES|PAR VALUE", cleaned)):
            return _tidy_name(cleaned)
    return None


def _filing(head: str) -> Metadata | None:
    """Title, organisation, period and dates of a US SEC filing, from its cover page."""
    cover = head[:1500]
    if not re.search(r"SECURITIES\s+AND\s+EXCHANGE\s+COMMISSION", cover[:600], re.I) or not (form := _FORM.search(cover)):
        return None
    code = form.group(1).upper()
    lines = [ln.strip() for ln in head.splitlines() if ln.strip()]
    org = _registrant(lines)
    period, end, year = None, None, None
    if m := _FY_END.search(head):
        end, year = parse_date(m.group(1)), m.group(2)
        period = f"FY{year}"
    elif m := _QUARTER_END.search(head):
        end, year = parse_date(m.group(1)), m.group(2)
        if end:
            period = f"quarter ended {' '.join(m.group(1).split())}"
    event = _EVENT.search(head)
    when = parse_date(event.group(1)) if event else end
    year = year or (when[:4] if when else None)
    title = " ".join(x for x in (org, f"Form {code}", period or year) if x)
    return Metadata(title, when, org, period, _FORMS.get(code))


def _period(text: str) -> str | None:
    if m := _QUARTER_WORDS.search(text):
        return f"Q{_ORDINAL[m.group(1).lower()]} {m.group(2)}"
    if m := re.search(r"\b(?:fiscal(?:\s+year)?|FY)\s*'?(\d{4}|\d{2})\b", text, re.I):
        year = m.group(1)
        return f"FY{year if len(year) == 4 else '20' + year}"
    if m := re.search(r"\b((?:19|20)\d{2})\s+annual\s+report\b|\bannual\s+report\s+((?:19|20)\d{2})\b", text, re.I):
        return m.group(1) or m.group(2)
    return None


def _kind(text: str) -> str | None:
    for pattern, kind in _KINDS:
        if pattern.search(text):
            return kind
    return None


# A copyright line names who publishes: "© UNICEF 2024", "(c) 2023 Acme Widgets Inc.". The
# sign or the word is matched in any case, the name only as capitalised words (a list's "(c)
# kinetic properties of ..." or "copyright restrictions apply" name nobody), "(c)" only before a
# year, and a name ends at a full stop ("©2012 AACR.This article ..."): a word holds one only
# inside an initialism ("U.S.", "N.V.") or a web name ("Amazon.com"), never before a capitalised
# word ("UNICEF China.Beijing"), and ends with one only as an initial or a short form inside a
# name ("R.R. Bowker Company", "E. Language Bros., Inc."), never as a sentence ("the Board.");
# "Inc." and "Co." end a name ("Acme Widgets Inc. All rights reserved"), and `_tidy_name` keeps it.
_NAME_WORD = (r"[A-Z][\w&'-]*(?:\.(?:[a-z]|[A-Z](?![a-z]))[\w&'-]*)*"
              r"(?:(?:(?<=\b[A-Z])|(?<=\bBros)|(?<=\bSt)|(?<=\bJr))\.)?")
# a name, in a copyright line or a publisher's alike: up to seven words on one line after an
# optional "the", "of", "in" and the like among them but never last (across a line break it ran
# into the next line's "Copyright" or "This")
_NAME = (rf"((?:(?i:the)[ \t]+)?{_NAME_WORD}(?:[ \t]+(?:{_NAME_WORD}|of|for|in|and|the|de|du)){{0,6}}"
         r"(?<!\sof)(?<!\sfor)(?<!\sin)(?<!\sand)(?<!\sthe)(?<!\sde)(?<!\sdu))")
_YEARS = r"(?:\d{4}(?:\s*[-–—,]\s*\d{4})*\s*,?\s*)?"  # "2005", "2001, 2002", "2001-2022"
_COPYRIGHT = re.compile(r"(?i:©|\(c\)(?=\s*(?:19|20)\d{2})|\bcopyright\b)\s*(?:©\s*)?" + _YEARS + r"(?:(?i:by)\s+)?" + _NAME)
_PUBLISHER = re.compile(r"(?i:\bpublished\s+by)\s+" + _NAME)
_NOT_ORGANISATIONS = {"the authors", "the author", "authors", "author", "all rights reserved"}


def _organisation(head: str, title: str) -> str | None:
    for line in _COPYRIGHT.finditer(head):
        if (name := _tidy_name(line.group(1))).lower() not in _NOT_ORGANISATIONS:
            return name
    if m := _PUBLISHER.search(head):
        return _tidy_name(m.group(1))
    company = rf"((?:{_NAME_WORD}[ \t]+){{0,4}}?{_NAME_WORD},?[ \t]+(?:Inc\.|Corporation|Company|Ltd\.|plc|Group|Foundation))"  # on one line
    if m := re.search(company, f"{title}\n{head[:1000]}"):  # the cover's first lines, not any company named later
        return m.group(1).strip()
    # "UNICEF China 2023 Annual Report": the name before the year, when it is not generic words
    if m := re.match(r"([A-Z][\w&.'-]*(?:\s+[A-Z][\w&.'-]*){0,4})\s+(?:19|20)\d{2}\b", title):
        words = {w.lower() for w in m.group(1).split()}
        if not words & _GENERIC and re.search(rf"\b{re.escape(m.group(1).split()[0])}\b", head):
            return m.group(1)
    return None


def plausible_title(title: str | None) -> bool:
    if not title:
        return False
    title = " ".join(title.split())
    return 4 <= len(title) <= 200 and not _BAD_TITLE.match(title) and sum(c.isalpha() for c in title) >= 3


_ID_WORDS = {"doc", "docs", "document", "file", "record", "item", "untitled", "page", "text", "copy"}


def _first_line(text: str, blocks, stem: str) -> str | None:
    """The text's first line, when the file's name is an id ("11771811", a UUID, "doc_000123"):
    an exported collection names its files by record, and such a name says nothing of the
    document. Only a line standing alone as a title would (a paragraph of its own, short)."""
    words = re.split(r"[\s_\-.]+", stem)
    if any(re.search(r"[A-Za-z]{3,}", w) and w.lower() not in _ID_WORDS and not re.fullmatch(r"[0-9a-fA-F]{6,}", w)
           for w in words):
        return None
    line = text[blocks[0].start:blocks[0].end].strip() if len(blocks) > 1 else ""  # a title has a body below it
    return " ".join(line.split()) if "\n" not in line and plausible_title(line) else None


def infer_metadata(text: str, blocks, stem: str, cover: str | None = None, pdf_info: dict | None = None,
                   title: str | None = None, when: str | None = None, first_heading: bool = True,
                   created: str | None = None) -> Metadata:
    """Metadata for a loaded text. `cover` is the cover page's largest text (PDF); `title`
    and `when` what the format itself declares (an HTML <title>, Markdown front matter, a date
    written in a Word file's text); `created` the file's own creation date (an Office file's
    properties; a PDF's is in `pdf_info`), believed only where the text's years allow it: a
    file is often made from an old one or a template.
    `first_heading=False` where a first heading is as likely a section's as the title
    (plain text, whose loader spots a title line itself)."""
    head = text[:12_000]
    filing = _filing(head)
    if filing is not None:
        return filing
    heading = next((text[b.start:b.end] for b in blocks if b.kind == "heading"), None) if first_heading else None
    info = pdf_info or {}
    candidates = [title, cover, heading, str(info.get("Title") or "")]
    chosen = next((" ".join(c.split()) for c in candidates if c and plausible_title(c)), None) \
        or _first_line(text, blocks, stem) or title_from_filename(stem, text)
    dated = when or _date_near_top(text, blocks)
    created = created or _pdf_date(str(info.get("CreationDate") or ""))
    period = _period(f"{chosen}\n{head}")
    if not dated and created and _agrees(created, period, head):
        dated = created
    return Metadata(chosen, dated, _organisation(head, chosen), period, _kind(chosen) or _kind(head[:1000]))


_MONTH_YEAR = re.compile(rf"^(?:(?:published|issued|date[d]?)\s*:?\s*(?:in|on)?\s*)?({_MONTH})\s+((?:19|20)\d{{2}})\.?$", re.I)

def _date_near_top(text: str, blocks) -> str | None:
    """A date written as a line of its own on the first page or two (a cover or dateline):
    a full date, or a month and year alone ("June 2024", "Published: June 2024") as YYYY-MM."""
    for b in list(blocks)[:30]:
        chunk = text[b.start:b.end]
        if len(chunk) <= 80 and (found := parse_date(chunk)):
            return found
        if len(chunk) <= 40 and (m := _MONTH_YEAR.match(" ".join(chunk.split()))):
            return f"{m.group(2)}-{month_number(m.group(1)):02d}"
    return parse_text(text[:4000])[1]


def _pdf_date(raw: str) -> str | None:
    if m := re.match(r"D:(\d{4})(\d{2})(\d{2})", raw):
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
        except ValueError:
            return None
    return None


def _agrees(created: str, period: str | None, head: str) -> bool:
    """A PDF creation date is believed only if the text's own years allow it: within a year
    and a half after the latest year the first pages name."""
    years = [int(y) for y in re.findall(r"\b(19[5-9]\d|20\d{2})\b", (period or "") + " " + head[:6000])]
    if not years:
        return True
    latest = max(y for y in years if y <= int(created[:4]) + 1) if any(y <= int(created[:4]) + 1 for y in years) else max(years)
    return 0 <= int(created[:4]) - latest <= 1

