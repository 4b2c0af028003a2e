"""Ingest: files and folders (or text records) into a knowledge base, document by document.

Each document commits on its own, in one store transaction with its passages and vectors: a
document is all or nothing, and what is committed stays. A killed ingest therefore resumes
by running it again, which skips every file whose content is unchanged (by hash). Text
records (a BEIR corpus: thousands of one-passage documents) commit in groups of whole
documents of about `ingest_batch` passages, so the encoder still gets full batches.

Files are parsed in worker processes (`parse_workers`, `kb.parsing`) while this process
embeds, so parse time hides behind the encoder; a parser that crashes or hangs on a hostile
file fails that file only. What has been committed becomes searchable every `publish_seconds` during a long
ingest (index files saved and swapped in, `KnowledgeBase._finish`), and at the end.

`sync` makes the knowledge base match a folder: new and changed files in, files gone from
it out, and a file moved or renamed inside it recognised by its content (its document takes
the new path; nothing is parsed or embedded again).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Protocol

import numpy as np

from .chunking import Chunk, chunk_document
from .errors import LoadError
from .faults import disk_full, fault
from .loaders import expand_paths, load_record
from .parsing import ParseJob, count_pages, parsed
from .records import Document, IngestReport, Occurrence, Passage, Record, document_id, passage_key
from .sidecar import read_sidecars
from .structure import LoadedDocument

if TYPE_CHECKING:  # pragma: no cover
    from index import SearchEngine

    from .knowledge import KnowledgeBase

__all__ = ["Ingester", "Progress"]

log = logging.getLogger("kb")


class Progress(Protocol):
    """What a long ingest reports as it goes (the CLI draws a bar of it)."""

    def start(self, total: int, unit: str) -> None: ...
    def advance(self, done: int, passages: int) -> None: ...


@dataclass
class _Prepared:
    doc: Document
    text: str
    chunks: list[Chunk]
    keys: list[tuple[str, int]]  # each chunk's passage id and index key (`passage_key`), hashed once
    data: bytes | None
    replaces: bool
    edits: dict = field(default_factory=dict)  # from a sidecar file
    tables: list[tuple[int, int]] = field(default_factory=list)  # where the loader found tables, for the reader


@dataclass
class _Write:
    """A write in progress: the engine it changes (a copy of the one searches use, made on
    its first commit) and the passages whose lexical entry may change."""

    serving: SearchEngine | None
    engine: SearchEngine | None = None
    touched: set[int] = field(default_factory=set)
    published: float = field(default_factory=time.monotonic)
    dirty: bool = False  # metadata changed without passages
    unsaved: bool = False  # a full disk kept the index files from being saved (served from memory)


UNSAVED = ("index files", "not saved: the disk is full. What was committed is searchable (from memory) and the "
           "files are written at the next ingest, or rebuilt from the store at the next start.")


def embedding_text(doc: Document, chunk: Chunk) -> str:
    """What the encoder reads for a passage: where it stands (document title, organisation and
    period where the title lacks them, section), then its text, so a question naming a
    company, a report or a year finds that document's passages. At most 160 characters of
    context: the passage (at most `chunk_tokens`) still fits the model's window."""
    parts = [doc.title]
    for extra in (doc.organisation, doc.period):
        if extra and extra.lower() not in doc.title.lower():
            parts.append(extra)
    if chunk.section and chunk.section.lower() != doc.title.lower():
        parts.append(chunk.section.rsplit(" > ", 1)[-1])
    context = " · ".join(parts)[:160]
    return f"{context}\n{chunk.clean}" if context and not chunk.clean.startswith(context) else chunk.clean


class Ingester:
    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        self.settings = kb.settings

    # -- entry points ----------------------------------------------------------------

    def files(self, paths: Iterable[str | Path], report: IngestReport, progress: Progress | None = None,
              cluster=None) -> IngestReport:
        """Ingest files and folders; with `cluster` (a Dask client, `kb.cluster.connect`) the
        parsing and embedding run on its workers and this process commits."""
        given = [Path(p).expanduser() for p in paths]
        files = expand_paths(given, report)
        sidecars = read_sidecars([p.resolve() for p in given if p.is_dir()] + [p.resolve().parent for p in given if p.is_file()])
        pages = {f: count_pages(f) for f in files}
        if progress:
            progress.start(sum(pages.values()), "page")
        started = time.perf_counter()
        with self.kb.live.writing():
            write = _Write(self.kb.engine())
            with self._publishing_on_error(write):
                if cluster is not None:
                    self._files_on_cluster(files, pages, report, progress, sidecars, write, cluster)
                else:
                    self._files(files, pages, report, progress, sidecars, write)
            self._end(write)
            self.embed_titles()
        if write.unsaved:
            report.warnings.append(UNSAVED)
        report.seconds = time.perf_counter() - started
        return report

    def _files(self, files: list[Path], pages: dict[Path, int], report: IngestReport, progress: Progress | None,
               sidecars: dict, write: _Write) -> None:
        """Documents are embedded in groups of about `ingest_batch` passages (the encoder sorts
        a batch by length, so larger batches run faster), then committed one by one."""
        group: list[tuple[_Prepared, int]] = []
        passages = 0
        for job, loaded in self._parsed(files, pages, report, progress, sidecars, write):
            prepared = self._prepare_job(job, loaded, sidecars, report)
            group.append((prepared, job.pages))
            passages += len(prepared.chunks)
            if passages >= self.settings.ingest_batch:
                self._commit_each(group, write, report, progress)
                group, passages = [], 0
        self._commit_each(group, write, report, progress)

    def _files_on_cluster(self, files: list[Path], pages: dict[Path, int], report: IngestReport,
                          progress: Progress | None, sidecars: dict, write: _Write, client) -> None:
        """Each new or changed file goes to a Dask worker (`kb.cluster.parse_and_embed`); the
        results are committed here one document at a time, in the order of the files, with a
        bounded number of files in flight (their bytes travel with the task)."""
        from .cluster import Recipe, parse_and_embed

        recipe = Recipe.of(self.settings)
        ahead = 2 * max(1, len(client.scheduler_info().get("workers", {})))
        waiting: deque[tuple[ParseJob, Any]] = deque()
        todo = self._opened(files, pages, report, progress, sidecars, write)
        while True:
            while len(waiting) < ahead and (job := next(todo, None)) is not None:
                waiting.append((job, client.submit(parse_and_embed, job.path.name, job.data, recipe, pure=False)))
            if not waiting:
                return
            job, future = waiting.popleft()
            done = 0  # passages committed for the progress bar
            try:
                result = future.result()
            except Exception as exc:  # a worker died on it (KilledWorker), or lost
                report.failed.append((str(job.path), f"the cluster could not process it ({type(exc).__name__})"))
                log.warning("%s: %s on the cluster", job.path, exc)
            else:
                if isinstance(result, str):  # the file could not be read: why
                    report.failed.append((str(job.path), result))
                    if progress:
                        progress.advance(job.pages, 0)
                    self._publish_if_due(write)
                    continue
                loaded, chunks, vectors = result
                prepared = self._prepare_job(job, loaded, sidecars, report, chunks)
                self._commit([prepared], write, report, {key: v for (_, key), v in zip(prepared.keys, vectors)})
                report.pages += job.pages
                done = len(chunks)
            if progress:
                progress.advance(job.pages, done)
            self._publish_if_due(write)

    def _commit_each(self, group: list[tuple[_Prepared, int]], write: _Write, report: IngestReport,
                     progress: Progress | None) -> None:
        vectors = self._embed([p for p, _ in group])
        for prepared, pages in group:
            self._commit([prepared], write, report, vectors)
            report.pages += pages
            if progress:
                progress.advance(pages, len(prepared.chunks))
        self._publish_if_due(write)

    @contextmanager
    def _publishing_on_error(self, write: _Write) -> Iterator[None]:
        """An error or Ctrl-C part way: what was committed is made searchable before the
        error goes on (if that fails too, the index is rebuilt from the store on next open)."""
        try:
            yield
        except (Exception, KeyboardInterrupt):
            try:
                self._end(write)
            except Exception as exc:  # the first error is the one to report
                log.warning("could not save the index after an error (%s); it is rebuilt from the store on next open", exc)
            raise

    def records(self, records: Iterable[Record], report: IngestReport, progress: Progress | None = None) -> IngestReport:
        records = list(records)
        if progress:
            progress.start(len(records), "doc")
        started = time.perf_counter()
        with self.kb.live.writing():
            write = _Write(self.kb.engine())
            with self._publishing_on_error(write):
                self._records(records, report, progress, write)
            self._end(write)
            self.embed_titles()
        if write.unsaved:
            report.warnings.append(UNSAVED)
        report.seconds = time.perf_counter() - started
        return report

    def _records(self, records: list[Record], report: IngestReport, progress: Progress | None, write: _Write) -> None:
        """Commit in groups of whole documents of about `ingest_batch` passages."""
        group: list[_Prepared] = []
        seen = passages = 0
        for i, record in enumerate(records, start=1):
            prepared = self._prepare_record(record, report)
            fault("parse")
            if prepared is not None:
                group.append(prepared)
                passages += len(prepared.chunks)
            if passages >= self.settings.ingest_batch or i == len(records):
                self._commit(group, write, report)
                if progress:
                    progress.advance(i - seen, passages)
                group, seen, passages = [], i, 0
                self._publish_if_due(write)

    def sync(self, folder: Path, report: IngestReport, progress: Progress | None = None) -> IngestReport:
        """Make the documents ingested from under `folder` match it: moves first (by content),
        then the ingest of what is new or changed, then the removal of what is gone."""
        folder = Path(folder).expanduser().resolve()
        if not folder.is_dir():
            report.failed.append((str(folder), "no such folder"))
            return report
        started = time.perf_counter()
        files = expand_paths([folder], IngestReport())
        present = {str(f.resolve()) for f in files}
        stored = self.kb.store.documents()
        known = {d.source for d in stored}
        prefix = str(folder) + os.sep
        missing = [d for d in stored if d.source.startswith(prefix) and d.source not in present]
        by_hash: dict[str, list[Document]] = {}
        for d in missing:
            by_hash.setdefault(d.content_hash, []).append(d)
        moved_ids: set[str] = set()
        if by_hash:
            with self.kb.live.writing():
                write = _Write(self.kb.engine())
                for f in files:
                    source = str(f.resolve())
                    if source in known:
                        continue
                    digest = hashlib.sha256(f.read_bytes()).hexdigest()
                    if by_hash.get(digest):
                        old = by_hash[digest].pop(0)
                        self._move(old, source, f.suffix.lower())
                        moved_ids.add(old.id)
                        report.moved.append((old.source, source))
                        write.dirty = True
                self._end(write)
        self.files([folder], report, progress)
        gone = [d for d in missing if d.id not in moved_ids]
        if gone:
            self.kb.remove_many([d.id for d in gone])
            report.removed += [d.source for d in gone]
        report.seconds = time.perf_counter() - started
        return report

    # -- parsing, in worker processes ---------------------------------------------------

    def _open(self, path: Path, pages: int, report: IngestReport, sidecars: dict, write: _Write) -> ParseJob | None:
        """The file as a job to parse, or None when it is unreadable or unchanged (an
        unchanged file still takes the sidecar's fields, if they differ)."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            report.failed.append((str(path), f"cannot read ({exc.strerror})"))
            return None
        source = str(path.resolve())
        doc_id, digest = document_id(source), hashlib.sha256(data).hexdigest()
        known = self.kb.store.fingerprint(doc_id)
        if known == f"{digest}:{self.kb.chunking_id()}":
            report.skipped.append(str(path))
            edits = sidecars.get(source) or sidecars.get(f"name:{path.name}")
            doc = self.kb.store.document(doc_id)
            if edits and doc is not None and any(getattr(doc, k) != v for k, v in edits.items()):
                self.kb.store.edit_document(doc_id, edits)
                write.touched |= self.kb.store.passages_of([doc_id])
                write.dirty = True
            return None
        return ParseJob(path, data, doc_id, digest, known is not None, pages)

    def _opened(self, files: list[Path], pages: dict[Path, int], report: IngestReport, progress: Progress | None,
                sidecars: dict, write: _Write) -> Iterator[ParseJob]:
        """The files to parse, opened one by one as the caller asks for them; unreadable and
        unchanged ones are reported (and counted on the progress bar) and left out."""
        for path in files:
            job = self._open(path, pages[path], report, sidecars, write)
            if job is not None:
                yield job
            elif progress:
                progress.advance(pages[path], 0)

    def _parsed(self, files: list[Path], pages: dict[Path, int], report: IngestReport, progress: Progress | None,
                sidecars: dict, write: _Write) -> Iterator[tuple[ParseJob, LoadedDocument]]:
        """(job, loaded document) in file order; failures are reported and skipped. Up to
        `parse_workers` files are parsed ahead, in other processes, while the caller embeds."""
        def failed(job: ParseJob, why: str) -> None:
            report.failed.append((str(job.path), why))
            if progress:
                progress.advance(job.pages, 0)

        workers = self.settings.parse_workers if len(files) > 1 else 0
        return parsed(self._opened(files, pages, report, progress, sidecars, write), workers, failed)

    # -- preparing and committing ----------------------------------------------------------

    def _prepare_job(self, job: ParseJob, loaded: LoadedDocument, sidecars: dict, report: IngestReport,
                     chunks: list[Chunk] | None = None) -> _Prepared:
        """A parsed file as it will be committed, with what its folder's sidecar sets; the
        loader's warnings go to the report."""
        edits = sidecars.get(str(job.path.resolve())) or sidecars.get(f"name:{job.path.name}") or {}
        report.warnings += [(str(job.path), warning) for warning in loaded.warnings]
        return self._prepare(job.doc_id, str(job.path.resolve()), job.digest, loaded, job.replaces,
                             job.data, job.path.suffix.lower(), edits, chunks=chunks)

    def _prepare_record(self, record: Record, report: IngestReport) -> _Prepared | None:
        doc_id = document_id(record.source)
        digest = hashlib.sha256(f"{record.title}\n{record.date}\n{record.text}".encode()).hexdigest()
        known = self.kb.store.fingerprint(doc_id)
        if known == f"{digest}:{self.kb.chunking_id()}":
            report.skipped.append(record.source)
            return None
        try:
            loaded = load_record(record.title, record.text, record.date)
        except LoadError as exc:
            report.failed.append((record.source, exc.message))
            return None
        return self._prepare(doc_id, record.source, digest, loaded, known is not None)

    def _prepare(self, doc_id: str, source: str, digest: str, loaded: LoadedDocument, replaces: bool,
                 data: bytes | None = None, suffix: str = "", edits: dict | None = None,
                 chunks: list[Chunk] | None = None) -> _Prepared:
        """The document as it will be committed; `chunks`, when a cluster worker cut them."""
        if chunks is None:
            e, s = self.kb.embedder, self.settings
            chunks = chunk_document(loaded, e.count_tokens, e.max_tokens, s.chunk_tokens, s.chunk_overlap)
        file = f"files/{doc_id}{suffix}" if data is not None else None
        doc = Document(doc_id, loaded.title, source, loaded.date, loaded.format, digest, loaded.pages, len(chunks),
                       file=file, organisation=loaded.organisation, period=loaded.period, kind=loaded.kind)
        tables = [(b.start, b.end) for b in loaded.blocks if b.kind == "table"]
        # A passage's key names what its vector was made from: its text, or, with context, its
        # text under its document's title and section. Switching the setting then gives every
        # passage a new key and a new vector (an unchanged key keeps its vector), and the same
        # text in two reports gets each report's own.
        read = (lambda c: embedding_text(doc, c)) if self.settings.embed_context else (lambda c: c.clean)
        return _Prepared(doc, loaded.text, chunks, [passage_key(read(c)) for c in chunks], data, replaces, dict(edits or {}),
                         tables)

    def _embed(self, pending: list[_Prepared]) -> dict[int, np.ndarray]:
        """Vectors of the passages of `pending` not yet in the store, in one encoder call."""
        keys, texts = [], []
        known = self.kb.store.known_keys(key for p in pending for _, key in p.keys)
        for p in pending:
            for (_, key), c in zip(p.keys, p.chunks):
                if key not in known:
                    known.add(key)
                    keys.append(key)
                    texts.append(embedding_text(p.doc, c) if self.settings.embed_context else c.clean)
        vectors = self.kb.embedder.embed_batch(texts) if texts else np.zeros((0, self.kb.embedder.dim), np.float32)
        fault("embed")
        return dict(zip(keys, vectors))

    def _commit(self, pending: list[_Prepared], write: _Write, report: IngestReport,
                embedded: dict[int, np.ndarray] | None = None) -> None:
        """Write `pending` to the store (one transaction) and to the write's engine, embedding
        what is new unless `embedded` has it. Adds the passages of the documents written,
        before and after, to `write.touched`."""
        if not pending:
            return
        kb = self.kb
        keyed = [list(zip(p.keys, p.chunks)) for p in pending]
        all_keys = [key for group in keyed for (_, key), _ in group]
        known = kb.store.known_keys(all_keys)
        fresh: dict[int, Passage] = {}
        for group in keyed:
            for (pid, key), c in group:
                if key not in known and key not in fresh:
                    fresh[key] = Passage(pid, key, c.text, c.clean, c.tokens)
        if embedded is None or any(k not in embedded for k in fresh):
            embedded = {**(embedded or {}), **self._embed(pending)}
        # the vectors' width, without loading the model here when a cluster embedded them
        dim = len(next(iter(embedded.values()))) if embedded else kb.embedder.dim
        vectors = np.asarray([embedded[k] for k in fresh], np.float32).reshape(len(fresh), dim)
        if write.engine is None:
            write.engine = write.serving.copy() if write.serving is not None else kb.live.new_engine(dim)
        files = kb.home / "files"
        files.mkdir(exist_ok=True)
        originals = []  # (written beside, final): moved in place once the store has committed
        try:
            for p in pending:
                if p.data is not None and p.doc.file:
                    originals.append((files / f".{p.doc.id}.{os.getpid()}.tmp", kb.home / p.doc.file))
                    originals[-1][0].write_bytes(p.data)
        except BaseException:  # a full disk: nothing half written is left
            for tmp, _ in originals:
                tmp.unlink(missing_ok=True)
            raise
        docs = [
            (p.doc, kb.chunking_id(), p.text,
             [(key, Occurrence(p.doc.id, i, c.section, c.page, c.start, c.end)) for i, ((_, key), c) in enumerate(group)],
             p.tables)
            for p, group in zip(pending, keyed)
        ]
        meta = {"model": kb.model, "dimension": str(dim)}
        write.touched |= kb.store.passages_of([p.doc.id for p in pending])
        write.touched.update(all_keys)
        fault("before-commit")
        try:
            disk_full("commit")
            orphans = kb.store.commit(docs, list(zip(fresh.values(), vectors)), meta)
        except BaseException:
            for tmp, _ in originals:
                tmp.unlink(missing_ok=True)
            raise
        for tmp, final in originals:
            os.replace(tmp, final)
        fault("after-commit")
        for p in pending:
            if p.edits:
                kb.store.edit_document(p.doc.id, p.edits)
        write.engine.vectors.add(np.fromiter(fresh, dtype=np.int64, count=len(fresh)), vectors)
        write.engine.vectors.remove(np.asarray(orphans, dtype=np.int64))
        for p in pending:
            (report.updated if p.replaces else report.added).append(p.doc.source)
        report.passages_new += len(fresh)
        report.passages_reused += len(all_keys) - len(fresh)

    def embed_titles(self, batch: int = 1024) -> None:
        """Embed the document titles no stored vector holds yet (new, edited, or all of a home
        from before), for `kb.named`. Search is right without them (a missing one is embedded
        when first needed, once per process), so a failure here is a warning."""
        kb = self.kb
        try:
            missing = kb.store.titles_without_vectors(kb.model)
            for i in range(0, len(missing), batch):
                titles = missing[i:i + batch]
                kb.store.add_title_vectors(kb.model, dict(zip(titles, kb.embedder.embed_batch(titles))))
        except Exception as exc:
            log.warning("document titles were not embedded (%s); searches embed them when first needed", exc)

    def _move(self, old: Document, source: str, suffix: str) -> None:
        new_id = document_id(source)
        file = f"files/{new_id}{suffix}" if old.file else None
        if old.file and file and (self.kb.home / old.file).exists():
            os.replace(self.kb.home / old.file, self.kb.home / file)
        self.kb.store.move_document(old.id, new_id, source, file)

    def _publish_if_due(self, write: _Write) -> None:
        """Make what is committed searchable when `publish_seconds` have passed since last."""
        if write.engine is not None and time.monotonic() - write.published >= self.settings.publish_seconds:
            self._end(write)
            write.serving, write.engine, write.touched = self.kb.engine(), None, set()
            write.published = time.monotonic()

    def _end(self, write: _Write) -> None:
        if write.engine is None and write.dirty:
            write.engine = write.serving.copy() if write.serving is not None else None
        if write.engine is not None and not self.kb._finish(write.engine, write.touched):
            write.unsaved = True
        write.dirty = False

