"""The staff pages: search (with filters, facets, context, citations and feedback), the list
of reports, one report, and its original file. Rendered on the server; works without
JavaScript, which only adds keyboard moves, copy-to-clipboard and in-place feedback."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from urllib.parse import urlencode

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, send_file, url_for

from kb import reading
from kb.errors import InvalidRequest, NotFound
from kb.series import edition_year
from kb.validation import FILTERS, parse_int

from .access import client_id

bp = Blueprint("pages", __name__)


@bp.app_template_filter("repair")
def _repair(text: str) -> str:
    """Display text with glued sentences spaced again (`kb.reader.repair`)."""
    from kb.reader import repair

    return repair(text)

@bp.app_template_filter("groupby_series")
def _groupby_series(results, series_of) -> list[tuple[str, list]]:
    """Results grouped by report series (a report in none is its own group), in the order of
    each group's best result."""
    groups: dict[str, list] = {}
    for r in results:
        found = series_of.get(r.document.id)
        groups.setdefault(found.name if found else r.document.title, []).append(r)
    return list(groups.items())


def _sentences(text: str) -> list[str]:
    from kb.reader import repair

    return [" ".join(x.split()) for x in re.split(r"(?<=[.!?])\s+", repair(text)) if x.strip()]


@bp.app_template_filter("sentences_against")
def _sentences_against(text: str, other: str) -> list[tuple[str, bool]]:
    """`text` sentence by sentence, each with whether `other` lacks it: what changed from
    one edition to another."""
    have = set(_sentences(other))
    return [(x, x not in have) for x in _sentences(text)]


@bp.app_template_filter("differs")
def _differs(text: str, shown: str) -> str:
    """The sentences of another edition's passage that the shown one does not have ("" when
    only spacing differs)."""
    return " … ".join(x for x, changed in _sentences_against(text, shown) if changed)


MODES = (("hybrid", "Meaning + keywords"), ("dense", "Meaning only"), ("lexical", "Keywords only"))
PAGE_SIZES = (10, 20, 50)
_INLINE = {".pdf": "application/pdf", ".txt": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8",
           ".html": "text/plain; charset=utf-8", ".htm": "text/plain; charset=utf-8"}  # markup shown as text


def _kb():
    return current_app.extensions["kb"]


@bp.app_context_processor
def _limits() -> dict:
    """The search box takes as much as a search accepts (the setting, not a copy of it)."""
    return {"max_query_chars": _kb().settings.max_query_chars}


TOKEN_SECONDS = 24 * 3600  # a results page's vote buttons work for a day


def feedback_token(query: str, passage_id: str, expires: int | None = None) -> str:
    """Proves a vote came from one of our results pages, for that query and that passage,
    within a day: "<expiry>.<HMAC of expiry, query and passage>". Another site cannot read
    it, and one token cannot be replayed for other queries or passages or after it expires."""
    expires = int(time.time()) + TOKEN_SECONDS if expires is None else expires
    message = f"{expires}\n{' '.join(query.split())}\n{passage_id}".encode()
    return f"{expires}." + hmac.new(current_app.config["SECRET_KEY"].encode(), message, hashlib.sha256).hexdigest()


def _token_ok(token: str, query: str, passage_id: str) -> bool:
    expires, _, _ = token.partition(".")
    if not expires.isdigit() or int(expires) < time.time() or len(token) > 100:
        return False
    return hmac.compare_digest(token, feedback_token(query, passage_id, int(expires)))


def runs(text: str, highlights, is_term) -> list[tuple[list[tuple[str, bool]], bool]]:
    """`text` as runs (inside a highlighted sentence or not) of pieces (a query term or not),
    with sentences the source glued together spaced again (`kb.reader.repair`, applied to the
    highlights alike so they are still found). The template escapes every piece."""
    from kb.reader import repair

    text = repair(text)
    marks = []
    for h in map(repair, highlights):
        at = text.find(h)
        if at >= 0:
            marks.append((at, at + len(h)))
    spans, pos = [], 0
    for start, end in sorted(marks):
        if start < pos:
            continue
        if start > pos:
            spans.append((text[pos:start], False))
        spans.append((text[start:end], True))
        pos = end
    if pos < len(text):
        spans.append((text[pos:], False))
    return [(_terms(span, is_term), marked) for span, marked in spans]


class TermMarker:
    """Tells which words of a passage are query terms, cutting the text as the lexical index
    does (so "2,053" and "10-K" are one piece each, as they are one term each)."""

    def __init__(self, terms: set[str], analyzer):
        self.terms, self.analyzer = terms, analyzer

    def __call__(self, word: str) -> bool:
        return bool(self.terms.intersection(self.analyzer(word)))

    def pieces(self, text: str) -> list[str]:
        return self.analyzer.pieces(text)


def _terms(text: str, is_term) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    pieces = is_term.pieces(text) if isinstance(is_term, TermMarker) else re.split(r"(\w+)", text)
    for piece in pieces:
        if not piece:
            continue
        term = piece[:1].isalnum() and is_term(piece)
        if out and out[-1][1] == term:
            out[-1] = (out[-1][0] + piece, term)
        else:
            out.append((piece, term))
    return out


def _page_url(**changes) -> str:
    """The current search URL with some parameters changed (None drops one)."""
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k not in changes and k != "feedback"]
    pairs += [(k, v) for k, v in changes.items() if v not in (None, "")]
    return url_for("pages.search") + "?" + urlencode(pairs)


def _filters(args) -> dict:
    out: dict = {}
    for name in FILTERS:
        values = [v.strip() for v in args.getlist(name) if v.strip()]
        if values:
            out[name] = values if name == "document" else values[0]
    if "year" in out:  # kb.validation refuses what is not a year, with a message
        out["year"] = [int(out["year"])] if out["year"].isascii() and out["year"].isdigit() else [out["year"]]
    return out


GROUPS = (("", "No grouping"), ("report", "By report"), ("series", "By report series"))


@bp.get("/")
def search():
    kb = _kb()
    args = request.args
    query, mode = args.get("q", ""), args.get("mode", "hybrid")
    filters, group = _filters(args), args.get("group") if args.get("group") in ("report", "series") else ""
    view = {"results": None, "error": None, "took": None, "facets": [], "suggestion": None, "has_next": False,
            "contexts": {}, "citations": {}, "page": 1, "k": kb.settings.default_k, "timeline": [], "total": None,
            "answer": None, "texts": {}}
    series_of = kb.series_of()
    status = 200
    if query.strip():
        started = time.perf_counter()
        try:
            view["k"] = k = _whole(args.get("k"), "k", kb.settings.default_k)
            view["page"] = page = _whole(args.get("page"), "page", 1)
            if page < 1:
                raise InvalidRequest("The page number must be 1 or more.", "invalid_page")
            offset = (page - 1) * k
            if offset + k > kb.settings.candidates:
                raise InvalidRequest(f"That page is past the last result a search can reach ({kb.settings.candidates}).", "invalid_page")
            results = kb.search(query, k=k, mode=mode, filters=filters or None, explain=True, offset=offset)
            view["results"] = results
            view["has_next"] = len(results) == k and offset + 2 * k <= kb.settings.candidates
            facets = reading.facets(kb, query, mode, filters or None)
            selected = kb.store_filters({k: v for k, v in filters.items() if k in ("document", "series", "year")} or None)
            inside = set(selected["document"]) if selected else None
            view["facets"] = facets
            view["total"] = sum(n for d, n in facets if inside is None or d.id in inside)
            view["timeline"] = reading.timeline(facets)
            if not results and page == 1:
                view["suggestion"] = reading.suggest(kb, query)
            view["texts"] = shown_texts(results)
            terms, analyzer = kb.query_terms(query)
            if results and page == 1 and results[0].strength == "strong" and results[0].highlights:
                view["answer"] = (results[0], answer_text(results[0].highlights[0], terms, analyzer, results[0].passage.text))
            for r in results:
                view["contexts"][r.rank] = reading.context(kb, r)
                view["citations"][r.rank] = reading.citation(r, _reader_url(r, absolute=True))
            if analyzer is not None:
                view["is_term"] = TermMarker(terms, analyzer)
        except InvalidRequest as exc:
            view["error"], status = exc.message, 400
        view["took"] = (time.perf_counter() - started) * 1000
    documents = kb.documents()
    years = sorted({y for d in documents if (y := edition_year(d))}, reverse=True)
    return render_template(
        "search.html", query=query, mode=mode, modes=MODES, filters=filters, group=group, groups=GROUPS,
        page_sizes=PAGE_SIZES, series=kb.series(), series_of=series_of, years=years,
        documents=documents, sections=[s.name for s in kb.sections()[:300]], stats=kb.counts(),
        page_url=_page_url, runs=runs, file_url=_file_url, reader_url=_reader_url, token=feedback_token,
        thanks=args.get("feedback") == "thanks", **view,
    ), status


def answer_text(sentence: str, terms: set[str], analyzer, passage: str | None = None) -> str:
    """What the answer card quotes: the best sentence, or, when it is a table's rows (one
    per line), the row holding most of the query's terms, with the table's first line (its
    column headings) above it when that differs. Only the report's own words.

    A table's highlight is already its best row (`kb.highlight`): then the rows are the
    `passage`'s, and the row highlighted is the one quoted."""
    from kb.chunking import split_sentences
    from kb.reader import cells

    def rows(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip()]

    def is_table(lines: list[str]) -> bool:  # most lines a label and figures (or cells apart)
        return sum(len(cells(line)) >= 2 for line in lines) >= max(2, len(lines) // 2)

    lines = rows(sentence)
    if len(lines) == 1 and passage:  # the row's table: the passage's "sentence" holding it
        for start, end in split_sentences(passage):
            table = rows(passage[start:end])
            if lines[0] in table and is_table(table):
                return lines[0] if table[0] == lines[0] else f"{table[0]}\n{lines[0]}"
    if len(lines) < 2 or not is_table(lines) or analyzer is None or not terms:
        return sentence  # a sentence (wrapped lines are still one sentence), not a table
    scores = [len(terms.intersection(analyzer(line))) for line in lines]
    best = max(range(len(lines)), key=lambda i: (scores[i], -i))
    if scores[best] == 0:
        return sentence
    return lines[best] if best == 0 else f"{lines[0]}\n{lines[best]}"


def shown_texts(results) -> dict[int, str]:
    """Each result's text as the page shows it: what a higher-ranked result of the same report
    already shows (neighbouring passages overlap) is left out, marked "…", so no sentence is
    read twice. Offsets into the document say where passages overlap."""
    out: dict[int, str] = {}
    seen: list = []
    for r in results:
        text, o = r.passage.text, r.occurrence
        if len(text) == o.end - o.start:  # the text is the document's at these offsets
            for other in seen:
                if other.occurrence.document_id != o.document_id:
                    continue
                p = other.occurrence
                if p.start <= o.start < p.end < o.end:  # it begins inside the other: drop the shared head
                    text = "… " + text[p.end - o.start:].lstrip()
                elif o.start < p.start < o.end <= p.end:  # it ends inside the other: drop the shared tail
                    text = text[:len(text) - (o.end - p.start)].rstrip() + " …"
        out[r.rank] = text
        seen.append(r)
    return out


def _whole(raw: str | None, name: str, default: int) -> int:
    return default if raw in (None, "") else parse_int(raw, name)


def _reader_url(result, absolute: bool = False) -> str:
    """Where a result (or any place of a passage) opens: the reader at its passage. `absolute`
    (for citations) puts `public_url` in front when it is set, never the request's Host header
    (a client could put any site there)."""
    from kb.reader import sentence_numbers

    numbers = sentence_numbers(result.passage.text, tuple(getattr(result, "highlights", ()) or ()))
    url = url_for("pages.read", doc_id=result.document.id, p=result.passage.id,
                  s=",".join(map(str, numbers[:10])) or None) + f"#p-{result.passage.id}"
    base = _kb().settings.public_url.rstrip("/")
    return base + url if absolute and base else url


def _file_url(result) -> str:
    """The original file's address, at the result's page for a PDF."""
    url = url_for("pages.document_file", doc_id=result.document.id)
    return url + (f"#page={result.occurrence.page}" if result.occurrence.page else "")


@bp.post("/feedback")
def feedback():
    form = request.form
    if not _token_ok(form.get("token", ""), form.get("q", ""), form.get("passage", "")):
        raise InvalidRequest("This feedback form has expired: reload the page and try again.", "invalid_token")
    helpful = form.get("helpful")
    if helpful not in ("0", "1"):
        raise InvalidRequest("Say whether the result was helpful.", "invalid_request")
    _kb().record_feedback(form.get("q", ""), form.get("passage", ""), helpful == "1", voter=client_id())
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"ok": True})
    return redirect(url_for("pages.search", q=form.get("q", ""), feedback="thanks"), 303)


@bp.get("/documents")
def documents():
    """Every report; the editions of a report series grouped together, newest first."""
    kb = _kb()
    series = kb.series()
    in_series = {e.document.id for x in series for e in x.editions}
    return render_template("documents.html", documents=kb.documents(), series=series,
                           others=[d for d in kb.documents() if d.id not in in_series])


def _passage_id(passage_id: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{16}", passage_id):
        raise InvalidRequest("That is not a passage id.", "invalid_passage")
    return passage_id


@bp.get("/passages/<passage_id>/similar")
def similar(passage_id: str):
    """More like this: the same topic in other reports and editions."""
    from kb.related import more_like_this

    kb = _kb()
    source, results = more_like_this(kb, _passage_id(passage_id), kb.settings.default_k)
    return render_template("similar.html", source=source, results=results, series_of=kb.series_of(),
                           reader_url=_reader_url)


@bp.get("/passages/<passage_id>/compare")
def compare(passage_id: str):
    """Compare editions: the passage beside the closest passage of each other edition."""
    from kb.related import compare_editions

    kb = _kb()
    comparison = compare_editions(kb, _passage_id(passage_id))
    return render_template("compare.html", c=comparison, reader_url=_reader_url)


@bp.get("/documents/<doc_id>")
def document(doc_id: str):
    kb = _kb()
    doc = kb.document(doc_id)
    return render_template("document.html", doc=doc, sections=kb.sections(doc.id), has_file=_has_file(doc_id))


def _has_file(doc_id: str) -> bool:
    try:
        reading.document_file(_kb(), doc_id)
        return True
    except Exception:
        return False


@bp.get("/documents/<doc_id>/read")
def read(doc_id: str):
    """The report laid out for reading, opened at a passage (`p`, marked) when given."""
    from kb.reader import read as layout

    kb = _kb()
    doc = kb.document(doc_id)
    mark = _passage_arg()
    numbers = request.args.get("s", "")
    if numbers and not re.fullmatch(r"\d{1,4}(,\d{1,4}){0,9}", numbers):
        raise InvalidRequest("s must be up to ten sentence numbers, such as 0,2.", "invalid_request")
    blocks = layout(kb, doc.id, mark, tuple(int(n) for n in numbers.split(",") if n))
    return render_template("reader.html", doc=doc, blocks=blocks, mark=mark or "", has_file=_has_file(doc.id))


def _passage_arg() -> str | None:
    """The passage a page marks (`p`), checked; None when not given."""
    mark = request.args.get("p", "")
    if mark and not re.fullmatch(r"[0-9a-f]{16}", mark):
        raise InvalidRequest("p must be a passage id.", "invalid_passage")
    return mark or None


@bp.get("/documents/<doc_id>/pages/<int:page>")
def page_view(doc_id: str, page: int):
    """A PDF page as printed, the passage `p` marked on it, with links to the pages around."""
    kb = _kb()
    doc = kb.document(doc_id)
    if doc.format != "pdf" or not _has_file(doc.id):
        raise NotFound(f"{doc.title!r} is not a kept PDF: it has no page images")
    if not 1 <= page <= (doc.pages or 0):
        raise InvalidRequest(f"page must be from 1 to {doc.pages}.", "invalid_page")
    return render_template("page_image.html", doc=doc, page=page, mark=_passage_arg())


@bp.get("/documents/<doc_id>/pages/<int:page>.png")
def page_png(doc_id: str, page: int):
    from kb.pageimage import page_image

    kb = _kb()
    png = page_image(kb, doc_id, page, _passage_arg())
    response = current_app.response_class(png, mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=3600" if kb.settings.read_needs_key else "public, max-age=3600"
    return response


@bp.get("/documents/<doc_id>/file")
def document_file(doc_id: str):
    doc, path = reading.document_file(_kb(), doc_id)
    suffix = path.suffix.lower()
    name = "".join(c if c.isalnum() or c in " -_" else "_" for c in doc.title).strip()[:80] or doc.id
    response = send_file(path, mimetype=_INLINE.get(suffix), as_attachment=suffix not in _INLINE,
                         download_name=name + suffix, max_age=3600)
    if _kb().settings.read_needs_key:  # behind a key: no shared cache may keep a copy
        response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
