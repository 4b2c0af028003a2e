"""A second stage learned from this knowledge base's own judgments (`kb learn`).

The built-in second stage ships fitted on one collection (SciFact's train split); fitted
leave-one-collection-out it lowers nDCG@10 on some collections left out (bench/QUALITY.md), so
it is off by default. What reorders one collection's candidates well is best learned from that
collection's own questions: a judged split of a BEIR dataset, a questions file as `kb eval`
reads it, or the votes staff leave on the search page. `learn` fits LambdaMART trees over the evidence the second stage reads
(`index.rerank.FEATURES`), on the first stage exactly as a search serves it, and measures them
by cross-validation over the judged queries (fitted on four folds, measured on the fifth). The
learned stage becomes this home's default only if it raises nDCG@10 on *every* fold, the rule
the shipped one is held to across collections; otherwise it is kept for rerank=true alone.
Where it helps, it is then one home's default, fitted on that home's own judgments, and every
other home keeps the shipped defaults.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from index.files import identity, replaced_folder
from index.metrics import evaluate
from index.rerank import FEATURES, LearnedReranker

from .errors import InvalidRequest

if TYPE_CHECKING:
    from index import Hit

    from .knowledge import KnowledgeBase

__all__ = ["Judgments", "Learned", "beir_judgments", "question_judgments", "feedback_judgments", "check", "learn", "forget",
           "describe", "load_learned", "pools", "cross_validate", "fit", "predict", "ndcg", "FOLDER", "MIN_QUERIES", "SHAPE"]

log = logging.getLogger("kb")

FOLDER = "learned"  # in the home: ranker.lgb.txt (LightGBM's text format) and ranker.json
MIN_QUERIES = 50  # judged queries with a relevant item: ten per fold at least, or a fold's nDCG is noise
FOLDS = 5
SHAPE: dict[str, Any] = {"num_leaves": 15, "n_estimators": 400, "learning_rate": 0.05, "min_child_samples": 20}  # the shipped model's
SEED = 13
Progress = Callable[[list], Iterable]
Pool = tuple[list[tuple[str, ...]], np.ndarray, np.ndarray]  # what each candidate is judged as, feature rows, grades
Score = Callable[[np.ndarray], np.ndarray]  # feature rows -> second-stage scores


@dataclass(frozen=True)
class Judgments:
    """Judged queries: `queries` id -> text, `grades` id -> {key: grade} (0 = not relevant);
    a key names a document's source id (`by="document"`), a passage id (`by="passage"`), or
    which of the query's `evidence` items a passage holds (`by="snippet"`)."""

    queries: dict[str, str]
    grades: dict[str, dict[str, int]]
    by: str
    source: str  # what they came from, for the record
    evidence: tuple[tuple[str, ...], ...] = ()  # by="snippet": each query's snippets or ids, by its id's number


@dataclass(frozen=True)
class Learned:
    """What `learn` fitted and measured: nDCG@10 per fold, first stage and learned, and
    whether the learned stage is this home's default (it raised every fold)."""

    source: str
    queries: int
    depth: int
    folds: tuple[tuple[float, float], ...]  # (first stage, learned) nDCG@10 per held-out fold
    default: bool
    at: str

    @property
    def first_stage(self) -> float:
        return float(np.mean([f for f, _ in self.folds]))

    @property
    def learned(self) -> float:
        return float(np.mean([g for _, g in self.folds]))


def beir_judgments(folder: Path, split: str = "train") -> Judgments:
    """A BEIR dataset's judged split, by document (its corpus must be ingested)."""
    from .evaluation import BeirDataset

    data = BeirDataset.load(folder, split)
    return Judgments(dict(data.queries), data.qrels, "document", f"{Path(folder).name} ({split})")


def question_judgments(path: Path) -> Judgments:
    """A questions file (`kb eval`'s format), by evidence item: a passage holding one of a
    question's snippets (or named by its id, or in the document it names by id) is relevant;
    off-topic questions have nothing to learn from and are left out."""
    from .evaluation import read_questions

    questions = [q for q in read_questions(path) if not q.off_topic]
    return Judgments({str(n): q.query for n, q in enumerate(questions)},
                     {str(n): {str(i): 1 for i in range(len(q.relevant))} for n, q in enumerate(questions)},
                     "snippet", Path(path).name, tuple(q.relevant for q in questions))


def feedback_judgments(kb: KnowledgeBase) -> Judgments:
    """The votes left on the search page, by passage: helpful 1, not helpful 0."""
    votes = kb.feedback.judgments()
    ids = {str(n): q for n, q in enumerate(sorted(votes))}
    return Judgments(ids, {n: votes[q] for n, q in ids.items()}, "passage", "votes on the search page")


def check(judgments: Judgments) -> list[str]:
    """The ids of the queries with a relevant item, sorted; raises `InvalidRequest` when they
    are fewer than `MIN_QUERIES` (checked before anything is ingested or fitted)."""
    judged = sorted(q for q, g in judgments.grades.items() if any(v > 0 for v in g.values()))
    if len(judged) < MIN_QUERIES:
        raise InvalidRequest(f"Learning needs at least {MIN_QUERIES} judged queries with a relevant result; "
                             f"{judgments.source} has {len(judged)}.", "too_few_judgments")
    return judged


def learn(kb: KnowledgeBase, judgments: Judgments, progress: Progress | None = None) -> Learned:
    """Fit, cross-validate and save this home's learned second stage; returns what was
    measured. Raises `InvalidRequest` when fewer than `MIN_QUERIES` queries have a relevant
    item, or the knowledge base is empty; a failed write leaves the previous one in place."""
    judged = check(judgments)
    found = pools(kb, judgments, judged, progress)
    measured = cross_validate(found, judgments, judged)
    ranker = fit(found, judged)
    learned = Learned(judgments.source, len(judged), kb.settings.rerank_depth, tuple((round(a, 4), round(b, 4)) for a, b in measured),
                      all(b > a for a, b in measured), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    with replaced_folder(kb.home / FOLDER) as tmp:
        ranker.booster_.save_model(str(tmp / "ranker.lgb.txt"))
        (tmp / "ranker.json").write_text(json.dumps({**asdict(learned), "features": list(FEATURES), "shape": SHAPE,
                                                     "model": kb.model, "chunking": kb.chunking_id()}, indent=2) + "\n")
    return learned


def pools(kb: KnowledgeBase, judgments: Judgments, judged: list[str], progress: Progress | None = None) -> dict[str, Pool]:
    """Each judged query's first stage exactly as a search serves it (`Searcher.candidates`):
    what each candidate is judged as, the feature rows of the first `rerank_depth`, and
    their grades (what a second stage is fitted and measured on)."""
    if kb.engine() is None:
        raise InvalidRequest("The knowledge base is empty: ingest the documents the judgments are about first.", "empty")
    depth = kb.settings.rerank_depth
    keys_of = _keys(kb, judgments)
    out = {}
    for q in (progress(judged) if progress else judged):
        hits, x = kb.searcher.candidates(judgments.queries[q])
        keys = keys_of(q, hits)
        grades = judgments.grades[q]
        labels = np.array([max((grades.get(k, 0) for k in ks), default=0) for ks in keys[:depth]], dtype=int)
        out[q] = (keys, x, np.maximum(labels, 0))
    return out


def cross_validate(found: dict[str, Pool], judgments: Judgments, judged: list[str]) -> tuple[tuple[float, float], ...]:
    """(first stage, learned) nDCG@10 on each of `FOLDS` folds of the judged queries, the
    learned stage fitted on the other folds."""
    folds = np.array_split(np.random.default_rng(SEED).permutation(judged), FOLDS)
    documents = judgments.by == "document"
    measured = []
    for f, held in enumerate(folds):
        ranker = fit(found, [q for g, fold in enumerate(folds) if g != f for q in fold])
        measured.append((ndcg(found, judgments.grades, held, None, documents),
                         ndcg(found, judgments.grades, held, predict(ranker), documents)))
    return tuple(measured)


def forget(home: Path) -> bool:
    """Remove the home's learned second stage; whether there was one."""
    folder = Path(home) / FOLDER
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True


def describe(home: Path) -> dict | None:
    """What `learn` saved in the home (its `ranker.json`), without loading the model (for
    `kb stats`, which loads none), and `readable`: whether the model file at least opens as
    LightGBM's text format does."""
    folder = Path(home) / FOLDER
    try:
        meta = json.loads((folder / "ranker.json").read_text())
    except (OSError, ValueError):
        return None
    try:
        with open(folder / "ranker.lgb.txt", "rb") as fh:
            readable = fh.read(5) == b"tree\n"
    except OSError:
        readable = False
    return {**meta, "readable": readable}


_loaded: dict[Path, tuple[object, tuple[Learned, LearnedReranker] | None]] = {}  # by file identity


def load_learned(home: Path) -> tuple[Learned, LearnedReranker] | None:
    """The home's learned stage and its reranker, or None; read again when `learn` or
    `forget` (in any process) replaced it: one `stat` per call."""
    path = Path(home) / FOLDER / "ranker.json"
    seen = identity(path)
    if seen is None:
        _loaded.pop(path, None)
        return None
    cached = _loaded.get(path)
    if cached is not None and cached[0] == seen:
        return cached[1]
    try:
        import lightgbm

        meta = json.loads(path.read_text())
        booster = lightgbm.Booster(model_file=str(path.with_name("ranker.lgb.txt")))
        if not set(booster.feature_name()) <= set(FEATURES):
            raise ValueError(f"it reads features kb does not compute: {booster.feature_name()}")
        learned = Learned(meta["source"], meta["queries"], meta["depth"], tuple(tuple(f) for f in meta["folds"]),
                          meta["default"], meta["at"])
    except Exception as exc:  # a damaged or foreign file: searches go on with the shipped defaults
        log.warning("the learned second stage in %s cannot be read (%s); the shipped defaults apply until "
                    "kb learn runs again (or kb learn --forget)", path.parent, exc)
        _loaded[path] = (seen, None)
        return None
    reranker = LearnedReranker(booster)
    reranker.name = "learned"
    _loaded[path] = (seen, (learned, reranker))
    return learned, reranker


def _keys(kb: KnowledgeBase, judgments: Judgments) -> Callable[[str, list[Hit]], list[tuple[str, ...]]]:
    """What each hit of a query is judged as: the source ids of its documents, its passage
    id, or the query's evidence items it holds."""
    if judgments.by == "document":
        from .evaluation import BEIR_PREFIX

        sources = kb.store.passage_sources()
        return lambda q, hits: [tuple(s[len(BEIR_PREFIX):] if s.startswith(BEIR_PREFIX) else s for s in sources.get(h.id, ()))
                                for h in hits]

    def passages(q: str, hits: list[Hit]) -> list[tuple[str, ...]]:
        rows = kb.store.results_for([h.id for h in hits])
        if judgments.by == "passage":
            return [(rows[h.id][0].id,) if h.id in rows else () for h in hits]
        from .evaluation import evidence_items, holds, squash

        items = evidence_items(judgments.evidence[int(q)])
        out: list[tuple[str, ...]] = []
        for h in hits:
            if h.id not in rows:
                out.append(())
                continue
            passage, _, document = rows[h.id]
            text = squash(passage.text)
            out.append(tuple(item[0] for item in items if holds(item, passage.id, document.id, text)))
        return out
    return passages


def fit(found: dict[str, Pool], queries: list[str]):
    """LambdaMART of the shipped shape over `queries`' pools: the same rows give the same
    trees (deterministic, seeded), which is how the shipped model is checked against a refit."""
    import lightgbm

    x = np.vstack([found[q][1] for q in queries])
    y = np.concatenate([found[q][2] for q in queries])
    model = lightgbm.LGBMRanker(objective="lambdarank", random_state=SEED, deterministic=True, force_row_wise=True,
                                num_threads=2, verbose=-1, **SHAPE)
    model.fit(x, y, group=[len(found[q][1]) for q in queries], feature_name=list(FEATURES))
    return model


def predict(ranker) -> Score:
    """`ranker`'s scores of feature rows, as `ndcg` reads them (one thread: the same scores
    however many cores run it)."""
    return lambda x: ranker.booster_.predict(x, num_threads=1)


def ndcg(found: dict[str, Pool], grades: dict[str, dict[str, int]], queries, score: Score | None, documents: bool) -> float:
    """nDCG@10 of `queries`' rankings, the head reordered by `score` of its feature rows
    (None: as retrieved).
    By document (`documents`), passages are ranked as their documents, each at its first
    passage, as `kb eval` ranks them; otherwise every passage takes a place, and one that
    holds nothing judged not yet met is a miss there."""
    run = {}
    for q in queries:
        keys, x, _ = found[q]
        order = list(range(len(keys)))
        if score is not None and len(x):
            scores = score(x)
            order = [int(i) for i in np.argsort(-scores, kind="stable")] + order[len(x):]
        seen: dict[str, float] = {}
        for rank, i in enumerate(order):
            new = [k for k in keys[i] if k not in seen]
            for k in new if documents else new[:1] or [f"miss:{i}"]:
                seen[k] = -float(rank)
        run[q] = list(seen.items())
    return evaluate(run, {q: grades[q] for q in queries}, ["ndcg@10"])["ndcg@10"]
