"""The search request's parameters, declared once.

From `SEARCH` and `FILTER_PARAMS` come both what the API accepts (`from_query` for a GET's
parameters, `from_body` for a JSON body: types, names, unknown fields) and what the OpenAPI
description says (`body_schema`, `query_parameters`). Limits that are settings are written
"$setting" and filled from the settings when the description is served (`openapi.spec`);
the library (`kb.validation.validate_search`) checks the same limits against the same settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from kb.errors import InvalidRequest
from kb.validation import parse_bool, parse_float, parse_int

__all__ = ["Param", "SEARCH", "FILTER_PARAMS", "from_query", "from_body", "body_schema", "query_parameters"]

_DATE = {"type": "string", "pattern": r"^\d{4}(-\d{2}(-\d{2})?)?$"}
_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_YEAR = {"type": "integer", "minimum": 1000, "maximum": 9999}


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict
    help: str
    default: Any = None
    nullable: bool = False  # JSON null means "not given" (the setting's default)
    query_name: str | None = None  # its name as a GET parameter, where that differs

    def parse(self, raw: str) -> Any:
        """A GET parameter's text as this parameter's value (JSON bodies are typed already)."""
        kind = self.schema.get("type")
        return _PARSERS[kind](raw, self.name) if kind in _PARSERS else raw

    def body_value(self, value: Any) -> Any:
        kind = self.schema.get("type")
        if value is None:
            return None
        if kind == "boolean":
            return parse_bool(value, self.name)
        if kind == "string" or "enum" in self.schema:
            if not isinstance(value, str):
                raise InvalidRequest(f"{self.name} must be a string.", _CODES.get(self.name, "invalid_request"))
        return value  # numbers: kb.validation checks them (10.0 is the whole number 10)


_PARSERS: dict[str, Callable[[str, str], Any]] = {"integer": parse_int, "number": parse_float, "boolean": parse_bool}
_CODES = {"query": "empty_query", "mode": "invalid_mode", "highlight": "invalid_highlight"}

SEARCH = (
    Param("query", {"type": "string", "minLength": 1, "maxLength": "$max_query_chars", "pattern": r"\S"},
          "The question or keywords.", default="", query_name="q"),
    Param("k", {"type": "integer", "minimum": 1, "maximum": "$max_k"}, "Results to return (default KB_DEFAULT_K).",
          nullable=True),
    Param("offset", {"type": "integer", "minimum": 0, "maximum": "$candidates"}, "Results to skip; offset + k reaches KB_CANDIDATES at most.",
          default=0),
    Param("mode", {"enum": ["hybrid", "dense", "lexical"]}, "hybrid (default), dense or lexical.", default="hybrid"),
    Param("rerank", {"type": "boolean"}, "Second stage on or off (default: KB_RERANK).", nullable=True),
    Param("diversify", {"type": "boolean"}, "Maximal marginal relevance over the candidates.", default=False),
    Param("explain", {"type": "boolean"}, "Add the evidence behind each score.", default=False),
    Param("min_score", {"type": "number", "minimum": 0, "maximum": 1},
          "Drop results below this relevance (default: the first result gates the list at KB_MIN_SCORE).", nullable=True),
    Param("highlight", {"type": "string", "enum": ["model", "terms", "none"]},
          "How highlights are chosen: model (default), terms (by query words; faster) or none (the fastest).", nullable=True),
)
FILTER_PARAMS = (
    Param("document", {"oneOf": [_ID, {"type": "array", "items": _ID, "minItems": 1, "maxItems": 100}]},
          "Only this document (a GET repeats the parameter)."),
    Param("section", {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"}, "Only sections containing this text."),
    Param("date_from", _DATE, "Published on or after (YYYY, YYYY-MM or YYYY-MM-DD)."),
    Param("date_to", _DATE, "Published on or before (YYYY, YYYY-MM or YYYY-MM-DD)."),
    Param("series", {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,80}$"},
          "Only editions of this report series (an id from GET /api/v1/series)."),
    Param("year", {"oneOf": [_YEAR, {"type": "array", "items": _YEAR, "minItems": 1, "maxItems": 50}]},
          "Only documents reporting on this year or these years (a GET repeats the parameter)."),
)
_LISTS = {"document", "year"}  # filters a GET may repeat
_BY_BODY = {p.name: p for p in SEARCH}
_BY_QUERY = {p.query_name or p.name: p for p in SEARCH}


def from_query(args) -> dict:
    """A GET's parameters (a werkzeug MultiDict) as `KnowledgeBase.search` arguments."""
    known = set(_BY_QUERY) | {"query"} | {f.name for f in FILTER_PARAMS}
    unknown = sorted(set(args) - known)
    if unknown:
        raise InvalidRequest(f"unknown parameter {unknown[0]!r}; known: {', '.join(sorted(known - {'query'}))}.",
                             "invalid_request")
    out = {p.name: p.default for p in SEARCH}
    for name, p in _BY_QUERY.items():
        raw = args.get(name, args.get(p.name) if name != p.name else None)
        if raw is not None:
            out[p.name] = p.parse(raw)
    filters = {f.name: args.getlist(f.name) if f.name in _LISTS else args[f.name] for f in FILTER_PARAMS if f.name in args}
    if "year" in filters:  # a year as text is refused by kb.validation, with the filter's code
        filters["year"] = [int(y) if y.isascii() and y.isdigit() else y for y in filters["year"]]
    out["filters"] = filters or None
    return out


def from_body(body: Any) -> dict:
    """A JSON search object as `KnowledgeBase.search` arguments."""
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.", "invalid_json")
    known = set(_BY_BODY) | {"filters"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}; known: {', '.join(sorted(known))}.", "invalid_request")
    for p in SEARCH:  # null means "not given" only where the parameter says so
        if p.name in body and body[p.name] is None and not p.nullable:
            raise InvalidRequest(f"{p.name} may not be null.", _CODES.get(p.name, f"invalid_{p.name}"))
    out = {p.name: p.body_value(body[p.name]) if p.name in body else p.default for p in SEARCH}
    out["filters"] = body.get("filters")
    return out


def _nullable(schema: dict) -> dict:
    out = dict(schema)
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    if "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def body_schema() -> dict:
    """The JSON Schema of a search object (OpenAPI's SearchRequest)."""
    props: dict[str, Any] = {p.name: _nullable(p.schema) if p.nullable else dict(p.schema) for p in SEARCH}
    props["filters"] = {"type": ["object", "null"], "additionalProperties": False,
                        "properties": {f.name: f.schema for f in FILTER_PARAMS}}
    return {"type": "object", "required": ["query"], "additionalProperties": False, "properties": props}


def query_parameters(param: Callable[..., dict]) -> list[dict]:
    """The GET search's parameters for OpenAPI (`param` builds one: openapi._param)."""
    out = [param(p.query_name or p.name, p.schema, p.help, required=p.name == "query") for p in SEARCH]
    single = {"document": _ID, "year": _YEAR}
    out += [param(f.name, single.get(f.name, f.schema), f.help) for f in FILTER_PARAMS]
    return out

