"""The `kb` command. The library raises; this module turns errors into friendly messages.

Commands that need no model (`--help`, `documents`, `stats`, `remove`) never import torch or
sentence-transformers, so they answer in a fraction of a second.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import sys
from pathlib import Path

import click

from index.embedders import ModelMismatch, model_id

from .errors import KBError, Unavailable
from .settings import Settings

__all__ = ["main"]

MODES = ("hybrid", "dense", "lexical")  # index.MODES, kept here so --help imports no engine (tested)


# Accepted both before the command (kb --home X search) and after it (kb search --home X).
_HOME = click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="KB_HOME",
                     help="Knowledge base folder [env KB_HOME; default ~/.local/share/kb].")
_MODEL = click.option("--model", envvar="KB_MODEL", help="Embedding model name or path [env KB_MODEL].")


def _echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return " ".join(map(str, value)) or "-"
    return str(value)


def _home_option(f):
    @_HOME
    @_MODEL
    @functools.wraps(f)
    def wrapper(*args, home=None, model=None, **kwargs):
        ctx = click.get_current_context()
        try:
            settings = Settings.load(config=ctx.obj.get("config"), home=home or ctx.obj.get("home"),
                                     model=model or ctx.obj.get("model"))
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        return f(*args, settings=settings, **kwargs)

    return wrapper


def _open(settings: Settings):
    from .knowledge import KnowledgeBase

    return KnowledgeBase(settings)


class _Group(click.Group):
    """Turns library errors into one-line messages with a non-zero exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KBError as exc:
            click.secho(f"Error: {exc.message}", err=True, fg="red")
            ctx.exit(1 if type(exc) is KBError or isinstance(exc, Unavailable) else 2)  # what the user can change: 2
        except ModelMismatch as exc:
            click.secho(f"Error: {exc}", err=True, fg="red")
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@_HOME
@_MODEL
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="Settings file (TOML: rate_limit = 600, ...) [env KB_CONFIG; default: kb.toml in the home].")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens, step by step.")
@click.version_option("0.1.0", prog_name="kb")
@click.pass_context
def main(ctx, home, model, config, verbose):
    """kb: search your reports by meaning and by keywords.

    \b
    Typical use:
      kb ingest reports/                 # add files or folders (.txt .md .html .pdf .docx)
      kb search "online child protection"
      kb serve                           # web page and JSON API on http://127.0.0.1:8000

    Every setting can come from kb.toml in the home (or --config FILE), and from a KB_*
    environment variable, which wins over the file (see the README).
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj.update(home=home, model=model, config=config)


class _Bar:
    """The ingest progress bar: pages (or documents) done with rate and ETA, and passages."""

    def __init__(self, desc: str, disable: bool):
        self.desc, self.disable, self.bar, self.passages = desc, disable, None, 0

    def start(self, total: int, unit: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=self.desc, unit=unit, disable=self.disable or None, file=sys.stderr,
                        dynamic_ncols=True)

    def advance(self, done: int, passages: int) -> None:
        if self.bar is None:
            return
        self.passages += passages
        rate = self.passages / max(1e-9, self.bar.format_dict["elapsed"])
        self.bar.set_postfix_str(f"{self.passages} passages, {rate:.1f} passages/s", refresh=False)
        self.bar.update(done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--sync", "sync", is_flag=True,
              help="Make the knowledge base match the given folder(s): new and changed files in, deleted files out, "
                   "moved or renamed files recognised by content (nothing embedded again).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the knowledge base already has documents.")
@click.option("--cluster", metavar="ADDRESS",
              help="Parse and embed on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786); this "
                   "process commits. Needs kb[cluster] on every machine.")
@click.option("--workers", type=click.IntRange(1, 256),
              help="Parse and embed on a local Dask cluster of this many processes (each loads the model once).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@_home_option
def ingest(paths, sync, if_empty, cluster, workers, as_json, settings):
    """Add report files or folders; changed files replace their old passages.

    \b
    Each document is committed as soon as it is embedded, so a large folder is searchable
    as it goes and an interrupted ingest resumes where it stopped: run it again, and
    unchanged files (by content hash) are skipped. A file that cannot be read (broken,
    encrypted with a password) is reported and skipped; the others are still ingested.
    Titles, dates and organisations can be set in bulk with a kb-metadata.csv (or .yaml)
    in the folder: columns file, title, organisation, date, period, kind.
    """
    kb = _open(settings)
    if if_empty and kb.counts().documents:
        click.echo(f"{settings.home} already has documents; nothing to do.")
        return
    if (cluster or workers) and sync:
        raise click.UsageError("--sync runs in this process; leave out --cluster and --workers")
    if cluster and workers:
        raise click.UsageError("give --cluster or --workers, not both")
    client = None
    if cluster or workers:
        from .cluster import connect

        click.echo(f"Connecting to {cluster}" if cluster else f"Starting a local Dask cluster of {workers} processes",
                   err=True)
        client = connect(cluster, workers)
    bar = _Bar("Ingesting", disable=as_json)
    try:
        if client is not None:
            report = kb.ingest(paths, progress=bar, cluster=client)
        elif sync:
            folders = [p for p in paths if Path(p).is_dir()]
            if len(folders) != len(paths):
                raise click.UsageError("--sync takes folders only")
            reports = [kb.sync(folder, progress=bar) for folder in folders]
            report = reports[0]
            for other in reports[1:]:
                for name in ("added", "updated", "skipped", "failed", "moved", "removed", "warnings"):
                    getattr(report, name).extend(getattr(other, name))
                report.passages_new += other.passages_new
                report.passages_reused += other.passages_reused
                report.pages += other.pages
                report.seconds += other.seconds
        else:
            report = kb.ingest(paths, progress=bar)
    finally:
        bar.close()
        if client is not None:
            from .cluster import close

            close(client)
    if as_json:
        _echo_json(report.to_dict())
    else:
        extra = "".join(f", {len(v)} {k}" for k, v in (("moved", report.moved), ("removed", report.removed)) if v)
        click.echo(
            f"{len(report.added)} added, {len(report.updated)} updated, {len(report.skipped)} unchanged, "
            f"{len(report.failed)} failed{extra}; {report.pages} pages, {report.passages_new} passages embedded, "
            f"{report.passages_reused} reused, in {report.seconds:.1f} s."
        )
        for path, reason in report.failed:
            click.secho(f"  failed: {path}: {reason}", fg="yellow", err=True)
        for path, warning in report.warnings:
            click.secho(f"  warning: {path}: {warning}", fg="yellow", err=True)
    if report.failed and not (report.added or report.updated or report.skipped or report.moved or report.removed):
        sys.exit(1)


@main.command()
@click.argument("query")
@click.option("-k", type=int, default=None, help="How many results [default 10].")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True,
              help="hybrid fuses meaning and keywords; dense is meaning only; lexical is BM25 keywords only.")
@click.option("--document", "documents", multiple=True, help="Only this document id (repeatable).")
@click.option("--section", help="Only passages whose section contains this text.")
@click.option("--rerank/--no-rerank", default=None, help="Reorder the top candidates with the second stage [env KB_RERANK].")
@click.option("--diversify", is_flag=True, help="Prefer passages unlike those ranked above them (MMR).")
@click.option("--min-score", type=click.FloatRange(0, 1), default=None,
              help="Drop results whose calibrated relevance (0-1) is below this.")
@click.option("--explain", is_flag=True, help="Show the evidence behind each score.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON (the API's shape).")
@_home_option
def search(query, k, mode, documents, section, rerank, diversify, min_score, explain, as_json, settings):
    """Search the knowledge base and print ranked passages."""
    kb = _open(settings)
    filters = {}
    if documents:
        filters["document"] = list(documents)
    if section:
        filters["section"] = section
    results = kb.search(query, k=k, mode=mode, filters=filters or None, explain=explain, rerank=rerank,
                        diversify=diversify, min_score=min_score)
    if as_json:
        _echo_json({"query": query, "mode": mode, "results": [r.to_dict() for r in results]})
        return
    if not results:
        click.echo("No passage matched well enough." if min_score is not None else "No passage matched.")
    for r in results:
        where = ", ".join(x for x in (r.occurrence.section, f"p. {r.occurrence.page}" if r.occurrence.page else None, r.document.date) if x)
        score = f"score {r.score:.4f}" + (f", {r.strength} match ({r.relevance:.2f})" if r.relevance is not None else "")
        click.secho(f"{r.rank}. {r.document.title}", bold=True, nl=False)
        click.echo(f"  ({where})  {score}" if where else f"  {score}")
        if r.explain:
            click.secho("   why: " + ", ".join(f"{key} {_short(value)}" for key, value in r.explain.items() if value is not None), dim=True)
        for h in r.highlights:
            click.secho(f"   > {' '.join(h.split())}", fg="green")  # a sentence wrapped in its PDF, on one line
        text = " ".join(r.passage.text.split())
        click.echo(f"   {text[:400]}{'…' if len(text) > 400 else ''}\n")


@main.command("eval")
@click.argument("dataset", type=click.Path(exists=True, path_type=Path), required=False)
@click.option("--mode", "modes", type=click.Choice([*MODES, "all"]), multiple=True,
              help="Mode to measure (repeatable), or all [default hybrid].")
@click.option("--split", default="test", show_default=True, help="BEIR qrels split: qrels/<split>.tsv.")
@click.option("--rerank", "rerank", flag_value="with", help="Measure with the second stage (KB_RERANKER: builtin or a cross-encoder).")
@click.option("--both", "rerank", flag_value="both", help="Measure each mode without and with the second stage.")
@click.option("--feedback", is_flag=True, help="Use the votes left on the search page as the evaluation set (no DATASET).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@_HOME
@_MODEL
@click.pass_context
def evaluate(ctx, dataset, modes, split, rerank, feedback, as_json, home, model):
    """Measure nDCG@10, recall@10, recall@100 and MRR@10.

    \b
    DATASET is either
      a BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv): its corpus is ingested
        into a temporary knowledge base, or into --home if given (kept, and reused next time);
      a questions file (.jsonl, one {"query": ..., "relevant": [ids or snippets]} per line):
        run against the knowledge base at --home / KB_HOME as it is.
    With --feedback instead of DATASET, the queries staff marked results of as helpful or
    not on the search page are the evaluation set.
    """
    import tempfile

    from click.core import ParameterSource
    from tqdm import tqdm

    from . import evaluation

    modes = list(MODES) if "all" in modes else list(dict.fromkeys(modes or ["hybrid"]))
    reranks = {None: [False], "with": [True], "both": [False, True]}[rerank]
    given = [c.params.get("home") for c in (ctx, ctx.parent)
             if c.get_parameter_source("home") in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)]
    bar = functools.partial(tqdm, file=sys.stderr, disable=as_json or None)
    served = None
    if (dataset is None) != feedback:
        raise click.UsageError("give a DATASET, or --feedback (not both)")
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as scratch:
        if feedback:
            settings = Settings.load(home=(given or [None])[0], model=model or ctx.parent.params.get("model"))
            kb = _open(settings)
            rows = evaluation.evaluate_feedback(kb, modes, reranks, progress=lambda ids: bar(ids, desc="Querying", unit="query"))
            name = "feedback"
        elif dataset.is_dir():
            data = evaluation.BeirDataset.load(dataset, split)
            explicit = [c.params.get("home") for c in (ctx, ctx.parent) if c.get_parameter_source("home") == ParameterSource.COMMANDLINE]
            settings = Settings.load(home=(explicit or [None])[0] or scratch, model=model or ctx.parent.params.get("model"))
            kb = _open(settings)
            ingest_bar = _Bar("Ingesting corpus", disable=as_json)
            try:
                report = kb.ingest_records(data.records(), progress=ingest_bar)
            finally:
                ingest_bar.close()
            if report.failed:
                click.secho(f"{len(report.failed)} corpus entries could not be used (first: {report.failed[0][1]}).", fg="yellow", err=True)
            rows = evaluation.evaluate_beir(kb, data, modes, reranks, progress=lambda ids: bar(ids, desc="Querying", unit="query"))
            name = f"{dataset.name} ({split})"
        else:
            settings = Settings.load(home=(given or [None])[0], model=model or ctx.parent.params.get("model"))
            questions = evaluation.read_questions(dataset)
            kb = _open(settings)
            rows = evaluation.evaluate_questions(kb, questions, modes, reranks, progress=lambda ids: bar(ids, desc="Querying", unit="query"))
            served = evaluation.evaluate_served(kb, questions, progress=lambda qs: bar(qs, desc="As served", unit="query"))
            name = dataset.name
        default = (f"A search here that does not say gets hybrid {'with' if kb.rerank_by_default else 'without'} a second "
                   f"stage; second stage: {kb.stats()['second_stage']}.")
    if as_json:
        _echo_json({"rows": rows, "served": served} if served else rows)
        return
    click.echo(f"{name}: {rows[0]['queries']} queries")
    click.echo(f"{'mode':<10}{'rerank':<10}" + "".join(f"{m:>12}" for m in evaluation.METRICS) + f"{'seconds':>10}")
    for row in rows:
        click.echo(f"{row['mode']:<10}{row['rerank'] or '-':<10}" + "".join(f"{row[m]:>12.4f}" for m in evaluation.METRICS)
                   + f"{row['seconds']:>10.1f}")
    click.echo(default)
    if served:
        click.echo(f"As served (every default): hit@1 {served['hit@1']:.3f}, hit@5 {served['hit@5']:.3f}, hit@10 {served['hit@10']:.3f} "
                   f"over {served['questions']} questions; answers ranked first but hidden by the default cut: {served['hidden_by_cut']}"
                   + (f"; off-topic questions given the empty state: {served['off_topic_empty']} of {served['off_topic']}"
                      if served["off_topic"] else "")
                   + (f"; the right report first for {served['right_report_first']:.3f} of the {served['naming_a_report']} "
                      "that name it" if served["naming_a_report"] else "")
                   + (f"; the evidence highlighted for {served['evidence_highlighted']:.3f} of the {served['evidence_shown']} "
                      "whose evidence is in the top 5" if served["evidence_shown"] else "")
                   + (f"; the evidence page cited at 1/5/10: {served['page@1']:.3f} / {served['page@5']:.3f} / "
                      f"{served['page@10']:.3f} of the {served['with_pages']} that give it" if served["with_pages"] else ""))


@main.command()
@click.argument("dataset", type=click.Path(exists=True, path_type=Path), required=False)
@click.option("--split", default="train", show_default=True, help="BEIR qrels split to learn from: qrels/<split>.tsv.")
@click.option("--feedback", is_flag=True, help="Learn from the votes left on the search page (no DATASET).")
@click.option("--forget", is_flag=True, help="Remove the second stage learned here; the shipped defaults apply again.")
@click.option("--json", "as_json", is_flag=True, help="Print what was measured as JSON.")
@_home_option
def learn(dataset, split, feedback, forget, as_json, settings):
    """Learn this knowledge base's second stage from its own judged questions.

    \b
    DATASET is either
      a BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv): its corpus is ingested
        here first (unchanged documents are skipped);
      a questions file (.jsonl, as kb eval reads it: {"query": ..., "relevant": [ids or
        snippets]}), about what this knowledge base holds.
    With --feedback instead, the queries staff voted on in the search page are the
    judgments. At least 50 judged queries with a relevant result are needed.

    The second stage (LambdaMART over the first stage's evidence) is fitted on four fifths
    of the queries and measured on the fifth, five times. It becomes the default here only
    if it raised nDCG@10 on every fold; otherwise it is kept for rerank=true alone. Judge on
    queries you will not evaluate on (a train split), or the figures you quote are not held out.
    """
    from tqdm import tqdm

    from . import learning

    if forget:
        if dataset is not None or feedback:
            raise click.UsageError("--forget takes no DATASET and no --feedback")
        gone = learning.forget(Path(settings.home))
        click.echo("Removed the learned second stage." if gone else "No second stage was learned here.")
        return
    if (dataset is None) != feedback:
        raise click.UsageError("give a DATASET, or --feedback (not both)")
    kb = _open(settings)
    if feedback:
        judgments = learning.feedback_judgments(kb)
    elif not dataset.is_dir():
        judgments = learning.question_judgments(dataset)
    else:
        judgments = learning.beir_judgments(dataset, split)
        learning.check(judgments)  # before its corpus is ingested
        from .evaluation import BeirDataset

        bar = _Bar("Ingesting corpus", disable=as_json)
        try:
            kb.ingest_records(BeirDataset.load(dataset, split).records(), progress=bar)
        finally:
            bar.close()
    learned = learning.learn(kb, judgments, progress=lambda qs: tqdm(qs, desc="Collecting candidates", unit="query",
                                                                      file=sys.stderr, disable=as_json or None))
    if as_json:
        _echo_json({**dataclasses.asdict(learned), "first_stage": learned.first_stage, "learned": learned.learned})
        return
    click.echo(f"Learned from {learned.source}: {learned.queries} judged queries, the top {learned.depth} candidates of each.")
    click.echo(f"{'fold':<6}{'first stage':>14}{'learned':>10}")
    for n, (first, second) in enumerate(learned.folds, 1):
        click.echo(f"{n:<6}{first:>14.4f}{second:>10.4f}")
    click.echo(f"{'mean':<6}{learned.first_stage:>14.4f}{learned.learned:>10.4f}   (nDCG@10, each fold held out)")
    if not kb.uses_learned_stage:
        click.echo(f"The reranker setting names another second stage ({settings.reranker}): searches use that one, "
                   "not this.")
    elif learned.default:
        click.echo("It raised nDCG@10 on every fold: searches here now use it by default (kb learn --forget undoes it).")
    else:
        click.echo("It did not raise nDCG@10 on every fold: searches keep the first stage; rerank=true uses the learned one.")


@main.command()
@click.option("--host", default=None, help="Address to listen on [env KB_HOST; default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [env KB_PORT; default 8000].")
@click.option("--threads", type=int, default=None, help="Request threads per process [env KB_THREADS; default 4].")
@click.option("--workers", type=int, default=None,
              help="Server processes [env KB_WORKERS; default 1: waitress]. More pre-forks gunicorn workers "
                   "(Linux, macOS), each with its own model, sharing the index files' pages.")
@_home_option
def serve(host, port, threads, workers, settings):
    """Serve the search page and JSON API (waitress; gunicorn with --workers N)."""
    from webapp.server import serve as run

    chosen = (("host", host), ("port", port), ("threads", threads), ("workers", workers))
    settings = settings.replace(**{k: v for k, v in chosen if v})
    if settings.workers < 1:
        raise click.UsageError("--workers must be 1 or more")
    click.echo(f"Loading the model {model_id(settings.model)} ...", err=True)
    run(settings, echo=lambda line: click.echo(line, err=True))


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@_home_option
@click.pass_context
def documents(ctx, as_json, settings):
    """List ingested documents (or edit one: kb documents edit ID --title ...)."""
    if ctx.invoked_subcommand is not None:
        return
    docs = _open(settings).documents()
    if as_json:
        _echo_json([d.to_dict(paths=True) for d in docs])
        return
    if not docs:
        click.echo("No documents yet. Add some with: kb ingest PATH")
    for d in docs:
        about = " · ".join(x for x in (d.organisation, d.kind, d.period) if x)
        click.echo(f"{d.id}  {d.date or '----------'}  {d.passages:5d} passages  {d.title}"
                   + (f"  [{about}]" if about else "") + f"  ({d.source})")


@documents.command("edit")
@click.argument("doc_id")
@click.option("--title", help="The title people know the document by.")
@click.option("--organisation", help="Who published it.")
@click.option("--date", help="Publication date: YYYY, YYYY-MM or YYYY-MM-DD.")
@click.option("--period", help='The period it covers, e.g. "FY2022" or "Q2 2023".')
@click.option("--kind", help='What it is, e.g. "annual report", "press release".')
@click.option("--series", help='The report series it is an edition of, by name ("none": in no series; "": found again).')
@click.option("--json", "as_json", is_flag=True, help="Print the document as JSON.")
@_home_option
def documents_edit(doc_id, title, organisation, date, period, kind, series, as_json, settings):
    """Set a document's metadata by hand. Edits survive re-ingest of the file; an empty
    value ("") lets the file's own value back in at its next ingest."""
    changes = {k: v for k, v in dict(title=title, organisation=organisation, date=date, period=period, kind=kind,
                                     series=series).items() if v is not None}
    if not changes:
        raise click.UsageError("give at least one of --title, --organisation, --date, --period, --kind, --series")
    doc = _open(settings).edit_document(doc_id, **changes)
    if as_json:
        _echo_json(doc.to_dict())
    else:
        click.echo(f"Edited {doc.id}: {doc.title} ({doc.date or 'no date'}); edited fields: {', '.join(doc.edited)}")


@main.command()
@click.option("--to", "to", required=True, metavar="URL_OR_FOLDER",
              help="postgresql://user@host:port/db (an empty database with pgvector), or a new folder for an "
                   "embedded home.")
@_home_option
def migrate(to, settings):
    """Copy the store to PostgreSQL, or back to an embedded home, without embedding again.

    \b
    kb migrate --to postgresql://kb@db:5432/kb      then serve with KB_DATABASE_URL set
    KB_DATABASE_URL=postgresql://... kb migrate --to ~/kb-home   the way back
    Documents (with their edits), passages with their vectors, occurrences and the generation
    move as they are; the home's index files stay valid for the copy.
    """
    from .migrate import migrate as run

    done = run(_open(settings), to)
    click.echo(f"Copied {done['documents']} documents, {done['passages']} passages and {done['occurrences']} "
               f"occurrences to {done['to']} in {done['seconds']} s (generation {done['generation']}).")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@_home_option
def series(as_json, settings):
    """List report series: the editions of one organisation's report across years or
    quarters, found from organisation, kind, title and period (set one by hand with
    kb documents edit ID --series NAME)."""
    found = _open(settings).series()
    if as_json:
        _echo_json([x.to_dict() for x in found])
        return
    if not found:
        click.echo("No report series: no two documents are editions of one report.")
    for x in found:
        click.echo(f"{x.name}  [{x.id}]")
        for e in x.editions:
            click.echo(f"  {e.label:>12}  {e.document.id}  {e.document.title}")


@main.command()
@click.argument("doc_id")
@_home_option
def remove(doc_id, settings):
    """Remove a document (by the id `kb documents` shows) from every index."""
    doc = _open(settings).remove(doc_id)
    click.echo(f"Removed {doc.id}: {doc.title}")


@main.command()
@click.option("--url", help="Ask this kb server (e.g. http://127.0.0.1:8000) instead of reading the home.")
@click.option("--key", envvar="KB_API_KEY", help="API key for --url [env KB_API_KEY].")
@_home_option
def mcp(url, key, settings):
    """Serve the knowledge base to AI assistants over MCP (stdio).

    \b
    Tools: search, list_documents, get_document, get_passage. An assistant's configuration:
      {"mcpServers": {"kb": {"command": "kb", "args": ["mcp", "--home", "/path/to/home"]}}}
    Needs the extra: pip install 'kb[mcp]'.
    """
    try:
        from .mcp import build_server
        server = build_server(_remote(url, key) if url else _open(settings))
    except ImportError:
        raise click.UsageError("kb mcp needs the MCP SDK: pip install 'kb[mcp]'") from None
    logging.getLogger().setLevel(logging.WARNING)  # stdout is the protocol's: logs go to stderr only
    server.run("stdio")


def _remote(url, key):
    from .client import Client

    return Client(url, key=key)


@main.command()
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@_home_option
def backup(dest, settings):
    """Back up the knowledge base into DEST (a new folder), while it serves.

    Copies the store and the service file (keys, votes) with SQLite's online backup, the
    original files and the index files, all of one committed state: searches go on, writers
    wait for the copy. Restore with: kb restore DEST --home NEW_HOME
    """
    from .backup import backup as run_backup

    about = run_backup(_open(settings), dest)
    click.echo(f"Backed up {about['documents']} documents, {about['passages']} passages and {about['original_files']} "
               f"original files to {about['path']} in {about['seconds']} s"
               + ("" if about["index_files"] else " (index files left out: they are rebuilt on restore)") + ".")


@main.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_home_option
def restore(src, settings):
    """Restore a backup made by `kb backup` into the home (--home: a new or empty folder).

    The backup's SQLite files are checked first (PRAGMA integrity_check); the index is opened
    (or rebuilt from the store, without embedding anything) before this returns.
    """
    from .backup import restore as run_restore

    about = run_restore(src, settings.home)
    kb = _open(settings.replace(model=about.get("model") or settings.model))
    kb.engine()
    click.echo(f"Restored {about['documents']} documents and {about['passages']} passages into {about['home']}.")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@_home_option
def stats(as_json, settings):
    """Show counts, the model and disk use of the knowledge base."""
    info = _open(settings).stats()
    if as_json:
        _echo_json(info)
        return
    width = max(map(len, info))
    for key, value in info.items():
        click.echo(f"{key.replace('_', ' '):<{width}}  {value}")


@main.group()
def keys():
    """API keys for the JSON API: writes (upload, delete) always need one."""


def _keystore(settings: Settings):
    from .keys import KeyStore

    settings.home.mkdir(parents=True, exist_ok=True)
    if settings.database_url:  # keys live in the database app servers share
        from .knowledge import _open_store
        from .servicedb import service_for

        return KeyStore(service_for(_open_store(settings, settings.home), settings.home))
    return KeyStore(settings.home)


@keys.command("create")
@click.argument("name")
@_home_option
def keys_create(name, settings):
    """Create a key and print it; it is stored hashed and never shown again."""
    token = _keystore(settings).create(name)
    click.echo(token)
    click.echo(f"Key {name!r} created. Send it as: Authorization: Bearer <key>", err=True)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@_home_option
def keys_list(as_json, settings):
    """List keys by name (the keys themselves are not stored)."""
    rows = _keystore(settings).list()
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("No keys. Create one with: kb keys create NAME")
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        click.echo(f"{r['name']:<24} created {r['created_at']}  {state}")


@keys.command("revoke")
@click.argument("name")
@_home_option
def keys_revoke(name, settings):
    """Revoke a key by name: it stops working at once."""
    _keystore(settings).revoke(name)
    click.echo(f"Key {name!r} revoked.")


if __name__ == "__main__":  # pragma: no cover
    main()
