"""Search requests are checked here, once, for the library, the CLI, the page and the API.

Every failure raises `InvalidRequest` with a stable code (the API's error codes).
"""

from __future__ import annotations

import re
from datetime import date

from index import MODES

from .errors import InvalidRequest, Unprocessable
from .settings import Settings

__all__ = ["FILTERS", "validate_search", "validate_k", "validate_min_score", "validate_offset", "validate_filters"]

FILTERS = ("document", "section", "date_from", "date_to", "series", "year")
# White space as the API description's pattern (\S, ECMAScript) reads it: a query of control
# characters is not empty there, so it is searched (and finds little), not refused.
_BLANK = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_ISO = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def validate_search(s: Settings, query, k=None, mode="hybrid", filters=None) -> tuple[str, int, str, dict | None]:
    """(query, k, mode, filters), cleaned, or `InvalidRequest`."""
    if not isinstance(query, str):  # the code of an empty one: there is no text to search for
        raise InvalidRequest("The query must be text: type a few words to search for.", "empty_query")
    query = query.strip(_BLANK)
    if not query:
        raise InvalidRequest("The query is empty: type a few words to search for.", "empty_query")
    if len(query) > s.max_query_chars:
        raise InvalidRequest(f"The query is {len(query)} characters long; the limit is {s.max_query_chars}.", "query_too_long")
    k = validate_k(s, k)
    if mode not in MODES:
        raise InvalidRequest(f"mode must be one of {', '.join(MODES)}.", "invalid_mode")
    return query, k, mode, validate_filters(filters)


def validate_k(s: Settings, k=None) -> int:
    """How many results: the setting `default_k` when not given, else 1 to `max_k`."""
    k = s.default_k if k is None else _whole(k)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= s.max_k:
        raise InvalidRequest(f"k must be a whole number from 1 to {s.max_k}.", "invalid_k")
    return k


def validate_min_score(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidRequest("min_score must be a number from 0 to 1 (a calibrated relevance).", "invalid_min_score")
    return float(value)


HIGHLIGHTS = ("model", "terms", "none")


def validate_highlight(value) -> str:
    if value is None:
        return "model"
    if value not in HIGHLIGHTS:
        raise InvalidRequest("highlight must be model (sentences chosen by the model), terms (by query words, faster) or none.",
                             "invalid_highlight")
    return value


def _whole(value):
    """JSON has one number type: 10.0 is the whole number 10."""
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**53 else value


def validate_offset(value, k: int, deepest: int) -> int:
    value = _whole(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequest("offset must be a whole number, 0 or more.", "invalid_offset")
    if value + k > deepest:
        raise Unprocessable(f"offset + k may reach result {deepest} at most.", "invalid_offset")
    return value


def validate_filters(filters) -> dict | None:
    if filters in (None, {}):
        return None
    if not isinstance(filters, dict):
        raise InvalidRequest("filters must be an object.", "invalid_filter")
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise InvalidRequest(f"unknown filter {unknown[0]!r}; known: {', '.join(FILTERS)}.", "invalid_filter")
    out: dict = {}
    if "document" in filters:
        ids = filters["document"]
        ids = [ids] if isinstance(ids, str) else ids
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100 or not all(isinstance(i, str) and 0 < len(i) <= 64 for i in ids):
            raise InvalidRequest("filter document must be a document id or a list of 1 to 100 ids.", "invalid_filter")
        out["document"] = ids
    if "section" in filters:
        section = filters["section"]
        if not isinstance(section, str) or not 0 < len(section.strip()) <= 200:
            raise InvalidRequest("filter section must be text of 1 to 200 characters.", "invalid_filter")
        out["section"] = section.strip()
    if "series" in filters:
        series = filters["series"]
        if not isinstance(series, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,80}", series):
            raise InvalidRequest("filter series must be a series id (letters, digits and -, up to 80).", "invalid_filter")
        out["series"] = series
    if "year" in filters:
        years = filters["year"]
        years = [years] if isinstance(years, (int, float)) and not isinstance(years, bool) else years
        if not isinstance(years, list) or not 1 <= len(years) <= 50:
            raise InvalidRequest("filter year must be a year or a list of 1 to 50 years.", "invalid_filter")
        out["year"] = sorted({_year(y) for y in years})
    for name, pad in (("date_from", "-01-01"), ("date_to", "-12-31")):
        if name in filters:
            value = filters[name]
            if not isinstance(value, str) or not _ISO.match(value):
                raise InvalidRequest(f"filter {name} must be a date: YYYY, YYYY-MM or YYYY-MM-DD.", "invalid_filter")
            if not _real_date(value):
                raise Unprocessable(f"filter {name} is not a date of the calendar: {value}.", "invalid_filter")
            out[name] = value + pad[len(value) - 4:] if len(value) < 10 else value
    if "date_from" in out and "date_to" in out and out["date_from"] > out["date_to"]:
        raise Unprocessable("filter date_from is after date_to: no date is in that range.", "invalid_filter")
    return out


def _year(value) -> int:
    if isinstance(value, float) and value.is_integer():  # JSON's 2022.0 is the whole number 2022
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1000 <= value <= 9999:
        raise InvalidRequest("filter year must be a year of four digits, such as 2022.", "invalid_filter")
    return value


def _real_date(value: str) -> bool:
    """A date of the calendar ("2024-13-45" has the shape of one; it would filter out everything)."""
    try:
        date.fromisoformat((value + "-01-01")[:10])  # YYYY and YYYY-MM: their first day
    except ValueError:
        return False
    return True


_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')


def safe_file_name(raw) -> str:
    """A client's file name as one safe name in a folder: its last path part, NFC, with the
    characters no file system takes replaced, no leading dots, at most 200 bytes. Letters of
    any script stay (Werkzeug's secure_filename kept ASCII only, so "Годовой отчёт 2023.txt"
    and "Бюджет 2023.txt" both became "2023.txt" and one replaced the other). A name holding
    a NUL or other control character is refused, not repaired."""
    import unicodedata

    if not isinstance(raw, str) or not raw.strip():
        raise InvalidRequest("Every file needs a name.", "invalid_name")
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise InvalidRequest(f"The file name {raw!r} holds a control character.", "invalid_name")
    name = unicodedata.normalize("NFC", re.split(r"[\\/]", raw)[-1]).strip()
    name = _UNSAFE.sub("_", name).lstrip(". ").rstrip(". ")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    while len(name.encode()) > 200 and stem:
        stem = stem[:-1]
        name = f"{stem}.{suffix}" if suffix else stem
    if not stem:
        raise InvalidRequest(f"The file name {raw!r} has nothing left once made safe.", "invalid_name")
    return name


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
_INT = re.compile(r"^[+-]?\d{1,18}$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def parse_int(value, name: str):
    """A whole number from a query parameter ("10") or JSON (10, 10.0): one rule for the API
    and the pages. Anything else ("1e3", "0x10", " 5", "10.5", true) is `invalid_<name>`."""
    value = _whole(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT.match(value):
        return int(value)
    raise InvalidRequest(f"{name} must be a whole number.", f"invalid_{name}")


def parse_float(value, name: str) -> float:
    """A number from a query parameter or JSON ("nan" and "inf" are not numbers here)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and _NUMBER.match(value):
        return float(value)
    raise InvalidRequest(f"{name} must be a number.", f"invalid_{name}")


def parse_bool(value, name: str) -> bool:
    """true/false, 1/0, yes/no, on/off (any case) or a JSON boolean: the settings' own words."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise InvalidRequest(f"{name} must be true or false.", "invalid_request")
