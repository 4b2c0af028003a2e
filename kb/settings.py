"""Every setting, declared once: name, default and help.

Values come, each overriding the one before, from the default here, a configuration file
(``kb.toml`` in the home, or the file ``KB_CONFIG`` / ``--config`` names: one ``name = value``
per setting, the names below in lower case), ``KB_<NAME>`` environment variables, and options
given on the command line.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

__all__ = ["Settings", "default_home", "describe"]

ENV_PREFIX = "KB_"
CONFIG_FILE = "kb.toml"


def default_home() -> Path:
    """``$XDG_DATA_HOME/kb``, i.e. ``~/.local/share/kb`` on most systems."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "kb"


def _parse_workers() -> int:
    return max(0, min(2, (os.cpu_count() or 1) - 2))


def _setting(default: Any, help: str, factory=None):
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    home: Path = _setting(None, "Folder holding the knowledge base: SQLite store, indexes, copies of ingested files.", default_home)
    model: str = _setting("sentence-transformers/all-MiniLM-L6-v2", "Embedding model: a sentence-transformers name or a local path. The default is bundled and loads offline.")
    device: str = _setting("cpu", "Torch device for the model: cpu, cuda, cuda:1, mps.")
    batch_size: int = _setting(32, "Passages per encoder batch.")
    query_batch: int = _setting(1, "Most concurrent queries encoded in one ONNX run; 1 encodes them one at a time. On 2 CPU cores, 8 raised throughput by 10-33% for lean dense requests (rerank=false, highlight=none) at 8-32 clients, and moved it by -7% to +9% for default requests: bench/RESULTS.md.")
    query_encoder: str = _setting("onnx", "How one query is embedded: onnx (ONNX Runtime, same vectors, several times faster on a CPU) or torch.")
    chunk_tokens: int = _setting(200, "Target passage size in the model's word pieces; capped at what the model reads (254 for MiniLM).")
    chunk_overlap: int = _setting(32, "Word pieces of trailing whole sentences repeated at the start of the next passage.")
    ingest_batch: int = _setting(1024, "Passages of text records (a BEIR corpus) embedded and committed together; files commit one document at a time.")
    parse_workers: int = _setting(None, "Processes parsing files ahead while the encoder embeds; 0 parses in the ingesting process. Default: the cores beyond two, at most two (so 0 on a 2-core machine, where a worker measured slower than none: bench/RESULTS.md).", _parse_workers)
    publish_seconds: float = _setting(30.0, "During a long ingest, what is committed becomes searchable at least this often (seconds); each time saves the index files.")
    embed_context: bool = _setting(False, "Embed each passage under its document's title, organisation, period and section (BM25 indexes it under title and section either way). Off: it raised dense but lowered the default hybrid and right-report-first on our questions over real reports (bench/QUALITY.md).")
    candidates: int = _setting(200, "Candidates each retriever contributes before hybrid fusion (also the depth `kb eval` ranks to).")
    vector_index: str = _setting("auto", "Vector index: flat (exact), hnsw (approximate, for large collections), auto (flat up to ann_threshold passages, hnsw beyond), or database: with a PostgreSQL store, pgvector's HNSW index in the database answers (no vector file or vectors in memory per server; bench/backends.py).")
    ann_threshold: int = _setting(20_000, "Passages beyond which vector_index=auto switches from exact search to HNSW (back below half of it).")
    rrf_k: int = _setting(60, "The k of reciprocal rank fusion: larger flattens the rank discount.")
    fusion: str = _setting("minmax", "How hybrid mode fuses the two rankings: minmax (normalised scores) or rrf (reciprocal rank).")
    dense_weight: float = _setting(0.5, "Weight of the dense ranking in hybrid fusion for a query of 8 terms (lexical gets 1 minus it; length_slope moves it with the query's length), less the share of the query's weight carried by figures (an embedding does not read numbers).")
    length_slope: float = _setting(0.035, "Hybrid mode: added to dense_weight per doubling of the query's terms beyond 8 (taken off below 8; the weight stays within 0.1-0.9): BM25 drifts on long, verbose questions, an embedding on one or two words. 0 gives every query dense_weight (bench/fusion_loo.py).")
    title_weight: float = _setting(0.1, "Hybrid mode: added to a passage's fused score times the share of the query's weight (IDF) its document's title holds, so a question naming a company, report or year ranks that report's passages first. 0 turns it off (bench/QUALITY.md).")
    glossary: str = _setting("bundled", "Other names of a query's terms that retrieval also looks for, where the collection uses them clearly more, and the lines a measure is computed from (current ratio => total current assets; total current liabilities), which a question naming it asks for: bundled (reporting terms: capex, COGS, SG&A, PP&E...; kb/glossary.txt), a path to a file in that format, or none.")
    reranker: str = _setting("builtin", "Second stage for rerank=true: builtin (learned, no extra weights; the home's own from kb learn when there is one) or a cross-encoder name or path.")
    rerank: bool = _setting(False, "Use the second stage when a request does not say (rerank=true turns it on per request). Off: fitted leave-one-collection-out, the built-in one lowers nDCG@10 on some held-out collections (bench/QUALITY.md, bench/rerank_loo.py). A home whose own learned stage (kb learn) raised nDCG@10 on every fold of its cross-validation uses that one by default.")
    rerank_depth: int = _setting(50, "First-stage candidates the second stage reorders.")
    min_score: float = _setting(0.09, "The default cut: when a request gives no min_score, a query whose first result's calibrated relevance (0-1) is below this gets no results (the empty state); otherwise all are shown. 0 turns it off. A request's own min_score drops each result below it. The default is the cut bench/calibrate_loo.py fits across collections (index/models/calibration.json: gate), rounded down.")
    diversity: float = _setting(0.7, "MMR trade-off for diversify=true: 1 is pure relevance, lower favours passages unlike those above.")
    bm25_k1: float = _setting(0.9, "BM25 term-frequency saturation.")
    bm25_b: float = _setting(0.4, "BM25 length normalisation.")
    highlight_top: int = _setting(1, "Results whose highlights are chosen by the model (the rest by query terms); 0 for none. Each embeds its passage's sentences unless one of them holds a third of what the query asks (its words weighed by rarity, words no passage holds included): the costliest step a search can take (bench/scale.py).")
    default_k: int = _setting(10, "Results returned when a request does not say.")
    max_k: int = _setting(100, "Most results one request may ask for.")
    max_query_chars: int = _setting(10_000, "Longest query accepted, in characters. A pasted paragraph or page is a query too (an argument, an abstract, ~1,600 words at most): the encoder reads its first 256 word pieces, BM25 all its words.")
    max_request_bytes: int = _setting(1_000_000, "Largest HTTP request body accepted (413 beyond).")
    log_format: str = _setting("text", "How `kb serve` logs: text, or json (one JSON object per line; request lines carry request_id, method, path, status, ms, client, bytes).")
    log_requests: bool = _setting(True, "Log one line per HTTP request (with its request id, also sent as X-Request-Id).")
    host: str = _setting("127.0.0.1", "Address `kb serve` listens on.")
    port: int = _setting(8000, "Port `kb serve` listens on.")
    database_url: str = _setting("", "Where the passage store lives: empty (the default) for the embedded SQLite file in the home; postgresql://user@host:port/db for PostgreSQL with pgvector, shared by any number of app servers (each keeps its index files in its own home and rebuilds them from the database when another server writes).")
    database_replicas: str = _setting("", "PostgreSQL streaming replicas that searches read from, comma-separated postgresql:// URLs; writes go to database_url. When the primary is down, searches go on from the replicas and writes are refused (503 read_only) until it is back.")
    workers: int = _setting(1, "Server processes. 1 (the default) serves with waitress, in one process, on any system; more pre-forks that many gunicorn workers (Linux, macOS), each with its own model and the index files' pages shared, so searches use every core. Rate limits are shared by the workers (a small file in the home's cache) and upload jobs answer from any of them; requests in progress are capped per process.")
    encoder_threads: int = _setting(0, "Threads the query encoder (ONNX Runtime) uses for one search; 0 shares the cores among the server processes (the cores divided by workers, at most 4). One process on 2 cores encodes a query faster with both than with one; several processes each take their share.")
    threads: int = _setting(4, "Request threads of the WSGI server (waitress). More threads than twice the cores only contend for the GIL: on 2 cores, 8 let a page flood slow a keyed API client more than 4 did (bench/flood.py).")
    read_needs_key: bool = _setting(False, "Ask for a key on reads too: API calls send one, people sign in on the page with one (a session cookie), or come through a trusted single-sign-on proxy (trusted_user_header). Pages, original files and metrics then need it as the API does; writes always need a key.")
    session_hours: float = _setting(12.0, "How long a sign-in on the page lasts (hours); revoking its key ends it at once.")
    trusted_user_header: str = _setting("", "A header set by a single-sign-on reverse proxy naming the signed-in user (e.g. X-Forwarded-User); requests carrying it count as signed in. Empty (the default) ignores it: set it only when the proxy strips the header from clients' requests.")
    metrics_token: str = _setting("", "A token that alone opens /metrics (Authorization: Bearer <token>) for a scraper; without it /metrics follows read_needs_key.")
    trusted_proxies: int = _setting(0, "Reverse proxies in front of kb whose X-Forwarded-For/-Proto are believed (Werkzeug ProxyFix); 0 takes the client address from the connection.")
    public_url: str = _setting("", "The address people reach kb at (e.g. https://kb.example.org), for absolute links in citations; empty gives links relative to the page, never from the request's Host header.")
    rate_limit: int = _setting(600, "Requests per minute allowed per key or signed-in user, or per client address without one, on pages and the API alike (429 beyond).")
    client_concurrency: int = _setting(2, "Requests one client (key, user or address) may have in progress at once; more get 429 at once, so one client cannot take every core.")
    failed_signins: int = _setting(10, "Failed key checks (bad API keys, wrong sign-ins) allowed per client address per minute before 429.")
    max_connections: int = _setting(1000, "Open connections the server accepts (idle ones included); waitress's own default of 100 let idle clients lock others out.")
    idle_timeout: int = _setting(30, "Seconds an idle connection is kept open by the server.")
    upload_workers: int = _setting(1, "Background workers ingesting uploads (each upload is a job: POST answers 202 at once).")
    max_jobs: int = _setting(20, "Upload jobs waiting or running at once; more get 503 until some finish.")
    cors_origins: str = _setting("", "Origins allowed to call the API from a browser, comma-separated (* for any); empty for none.")
    max_upload_bytes: int = _setting(50_000_000, "Largest upload accepted by POST /api/v1/documents, all files together.")
    secret_key: str = _setting("", "Key signing the page's sign-in cookies and feedback forms; empty means a random key per server start (sign-ins then end when the server restarts).")

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, config: str | Path | None = None, **overrides: Any) -> "Settings":
        """Defaults, then the configuration file, then ``KB_*`` variables, then explicit
        overrides (None means "not given"). The file is `config`, else ``KB_CONFIG``, else
        ``kb.toml`` in the home (if there is one); a named file must exist."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        named = config or env.get(ENV_PREFIX + "CONFIG")
        if named:
            values.update(_read_config(Path(named).expanduser(), must_exist=True))
        else:
            home = overrides.get("home") or env.get(ENV_PREFIX + "HOME") or default_home()
            values.update(_read_config(Path(home).expanduser() / CONFIG_FILE, must_exist=False))
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw not in (None, ""):
                values[f.name] = _convert(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "home" in values:
            values["home"] = Path(values["home"]).expanduser()
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        for name in ("batch_size", "chunk_tokens", "ingest_batch", "candidates", "ann_threshold", "query_batch", "rrf_k", "rerank_depth", "default_k", "max_k", "max_query_chars", "max_request_bytes", "threads", "workers", "rate_limit", "max_upload_bytes", "client_concurrency", "failed_signins", "max_connections", "idle_timeout", "upload_workers", "max_jobs"):
            if getattr(self, name) < 1:
                raise ValueError(f"setting {name} must be at least 1")
        if self.parse_workers < 0 or self.publish_seconds < 0:
            raise ValueError("settings parse_workers and publish_seconds must not be negative")
        if not 0 <= self.chunk_overlap < self.chunk_tokens:
            raise ValueError("setting chunk_overlap must be >= 0 and below chunk_tokens")
        if self.query_encoder not in ("onnx", "torch"):
            raise ValueError("setting query_encoder must be onnx or torch")
        if self.vector_index not in ("auto", "flat", "hnsw", "database"):
            raise ValueError("setting vector_index must be auto, flat, hnsw or database")
        if self.log_format not in ("text", "json"):
            raise ValueError("setting log_format must be text or json")
        if self.glossary not in ("bundled", "none") and not Path(self.glossary).expanduser().is_file():
            raise ValueError(f"setting glossary must be bundled, none or a file's path; {self.glossary} is not a file")
        if self.fusion not in ("rrf", "minmax"):
            raise ValueError("setting fusion must be rrf or minmax")
        if not all(0 <= getattr(self, n) <= 1 for n in ("dense_weight", "length_slope", "title_weight", "diversity", "min_score")):
            raise ValueError("settings dense_weight, length_slope, title_weight, diversity and min_score must be between 0 and 1")
        if self.default_k > self.max_k:
            raise ValueError("setting default_k must not exceed max_k")
        if self.session_hours <= 0 or self.trusted_proxies < 0:
            raise ValueError("setting session_hours must be positive and trusted_proxies not negative")
        if self.trusted_user_header and not re.fullmatch(r"[A-Za-z0-9-]{1,64}", self.trusted_user_header):
            raise ValueError("setting trusted_user_header must be a header name")
        if self.public_url and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", self.public_url):
            raise ValueError("setting public_url must be an http(s) address such as https://kb.example.org")


def _convert(f: dataclasses.Field, raw: str) -> Any:
    kinds: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str, "Path": Path, "bool": _bool}
    kind = kinds[str(f.type)]
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not a valid {getattr(kind, '__name__', 'value')}") from None


def _read_config(path: Path, must_exist: bool) -> dict[str, Any]:
    """A configuration file's settings, checked: known names, values of the right type."""
    import tomllib

    if not path.is_file():
        if must_exist:
            raise ValueError(f"configuration file {path} does not exist")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    known = {f.name: f for f in fields(Settings)}
    out: dict[str, Any] = {}
    for name, value in data.items():
        f = known.get(name)
        if f is None:
            raise ValueError(f"{path}: unknown setting {name!r} (settings are the KB_* names in lower case, e.g. rate_limit)")
        kind = str(f.type)
        if kind == "bool" and not isinstance(value, bool) or kind == "int" and (isinstance(value, bool) or not isinstance(value, int)) \
                or kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))) \
                or kind in ("str", "Path") and not isinstance(value, str):
            raise ValueError(f"{path}: {name} must be a {'boolean' if kind == 'bool' else 'number' if kind in ('int', 'float') else 'string'}, not {value!r}")
        out[name] = float(value) if kind == "float" else Path(value).expanduser() if kind == "Path" else value
    return out


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ValueError(raw)
    return value in ("1", "true", "yes", "on")


_bool.__name__ = "boolean (true/false)"


def describe() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every setting: the README table's source."""
    rows = []
    for f in fields(Settings):
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[operator]
        if f.name == "home":
            default = "$XDG_DATA_HOME/kb (~/.local/share/kb)"
        elif isinstance(default, bool):
            default = str(default).lower()
        rows.append((ENV_PREFIX + f.name.upper(), str(default), f.metadata["help"]))
    return rows
