"""Calibrated relevance: a probability in [0, 1] that a passage answers the query.

Raw scores do not compare across queries: a question's cosine to its answer is lower than a
claim's to its evidence, and BM25 grows with the collection. So the calibration looks at how
far a passage's cosine stands out from what the same query scores against typical text in
this collection (a z-score under a `CosineNull`), beyond what the best of that many passages
would reach by chance (`CosineNull.excess`), the cosine itself (one model, one scale:
a passage that stands out from a collection of unrelated text can still be a weak match),
how much of the query's IDF mass the passage holds (its rare words count most) and how close
together. A logistic model over those four maps them to a probability. It is fitted across
every judged collection by ``bench/calibrate_loo.py`` (checked leave-one-collection-out) and
shipped as JSON with the default cut (`gate`): the best result's relevance below which a
search shows the empty state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .rerank import FEATURES

__all__ = ["CosineNull", "Calibrator", "LinearModel", "CALIBRATION_FEATURES", "calibration_columns", "reference_null", "fit_calibration",
           "gate_for", "reliability_table", "shipped_gate"]

MODELS = Path(__file__).with_name("models")
CALIBRATION_FILE = MODELS / "calibration.json"
CALIBRATION_TRAIN = MODELS / "calibration-train.npz"  # the features it was fitted on: refitting must find it
REFERENCE_NULLS = {"sentence-transformers/all-MiniLM-L6-v2": MODELS / "null-all-MiniLM-L6-v2.npz"}
PRIOR_WEIGHT = 2000  # a collection of n passages counts n / (n + 2000) against the reference

CALIBRATION_FEATURES = ("cosine_excess", "cosine", "weighted_coverage", "proximity")  # then columns of `FEATURES`
RELIABILITY_BINS = ((0, .05), (.05, .1), (.1, .2), (.2, .35), (.35, .5), (.5, .7), (.7, 1.01))


@dataclass(frozen=True)
class CosineNull:
    """Mean and covariance of a collection's unit vectors: for any query q, the cosines of
    the collection have mean q·μ and variance qᵀΣq, exactly, in O(d²) per query."""

    mean: np.ndarray
    cov: np.ndarray
    count: int

    @classmethod
    def fit(cls, chunks: Iterable[np.ndarray], dim: int) -> "CosineNull":
        """From vectors given in chunks (so a large index is never copied whole)."""
        n, total, outer = 0, np.zeros(dim), np.zeros((dim, dim))
        for chunk in chunks:
            v = np.asarray(chunk, dtype=np.float64).reshape(-1, dim)
            n += len(v)
            total += v.sum(axis=0)
            outer += v.T @ v
        if n == 0:
            return cls(np.zeros(dim), np.zeros((dim, dim)), 0)
        mean = total / n
        cov = (outer - n * np.outer(mean, mean)) / max(n - 1, 1)
        return cls(mean, cov, n)

    def blend(self, prior: "CosineNull | None", weight: int = PRIOR_WEIGHT) -> "CosineNull":
        """Shrink toward `prior` (or, without one, toward isotropic variance) when small."""
        n, d = self.count, len(self.mean)
        if prior is None:
            prior = CosineNull(self.mean, np.eye(d) * (np.trace(self.cov) / d if n > 1 else 1.0 / d), weight)
        a = n / (n + weight)
        return CosineNull(a * self.mean + (1 - a) * prior.mean, a * self.cov + (1 - a) * prior.cov, n)

    def z(self, query: np.ndarray, cosines: np.ndarray) -> np.ndarray:
        q = np.asarray(query, dtype=np.float64)
        sd = float(np.sqrt(max(q @ self.cov @ q, 1e-12)))
        return (np.asarray(cosines, dtype=np.float64) - float(q @ self.mean)) / sd

    def excess(self, query: np.ndarray, cosines: np.ndarray) -> np.ndarray:
        """`z` less √(2 ln n), about where the best of n unrelated passages lands: the first
        result of any query stands out more the more passages it was picked from, so a z-score
        alone would show an off-topic question's best passage in a large collection, and hide
        a right answer in a report of a few passages."""
        return self.z(query, cosines) - float(np.sqrt(2.0 * np.log(max(self.count, 2))))

    def save(self, path: Path) -> None:
        np.savez_compressed(path, mean=self.mean.astype(np.float32), cov=self.cov.astype(np.float32), count=self.count)

    @classmethod
    def load(cls, path: Path) -> "CosineNull":
        data = np.load(path)
        return cls(data["mean"].astype(np.float64), data["cov"].astype(np.float64), int(data["count"]))


@lru_cache(maxsize=4)
def reference_null(model: str) -> CosineNull | None:
    """The shipped null of a known model (fitted on 12k SciFact passages), else None."""
    path = REFERENCE_NULLS.get(model)
    return CosineNull.load(path) if path and path.exists() else None


@dataclass(frozen=True)
class LinearModel:
    """w·x + b over named columns; `predict` gives the logistic probability."""

    names: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) @ np.asarray(self.weights) + self.bias

    def predict(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(x)))

    @classmethod
    def from_dict(cls, d: dict) -> "LinearModel":
        return cls(tuple(d["features"]), tuple(float(w) for w in d["weights"]), float(d["bias"]))

    def to_dict(self) -> dict:
        return {"features": list(self.names), "weights": list(self.weights), "bias": self.bias}


def fit_calibration(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> LinearModel:
    """Logistic regression (scikit-learn, on standardised columns folded back into the
    weights): deterministic for the same rows, so the shipped model can be refitted."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    fitted = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(x), y)
    w = fitted.coef_[0] / scaler.scale_
    b = float(fitted.intercept_[0] - np.sum(fitted.coef_[0] * scaler.mean_ / scaler.scale_))
    return LinearModel(CALIBRATION_FEATURES, tuple(float(v) for v in w), b)


def gate_for(model: LinearModel, queries: list[tuple[np.ndarray, np.ndarray]], hide_at_most: float) -> float:
    """The highest cut on the best result's relevance that hides at most `hide_at_most` of
    the queries whose first result is right (`queries`: per query its rows of features in
    served order and their labels)."""
    right = np.sort([model.predict(x[:1])[0] for x, y in queries if len(y) and y[0]])
    if not len(right):
        return 0.0
    return float(right[int(np.floor(hide_at_most * len(right)))])


def reliability_table(p: np.ndarray, y: np.ndarray) -> tuple[list[dict], float]:
    """Predicted against observed relevance per bin, and their mean gap weighted by size."""
    rows, total = [], 0.0
    for low, high in RELIABILITY_BINS:
        sel = (p >= low) & (p < high)
        if sel.any():
            rows.append({"predicted": [low, min(high, 1)], "passages": int(sel.sum()),
                         "mean_predicted": round(float(p[sel].mean()), 3), "observed": round(float(y[sel].mean()), 3)})
            total += sel.sum() * abs(p[sel].mean() - y[sel].mean())
    return rows, round(float(total / max(1, len(p))), 4)


def shipped_gate() -> float:
    """The default cut fitted with the shipped calibration (0 when the file has none)."""
    return float(json.loads(CALIBRATION_FILE.read_text()).get("gate", 0.0))


@lru_cache(maxsize=1)
def _shipped() -> LinearModel:
    model = LinearModel.from_dict(json.loads(CALIBRATION_FILE.read_text()))
    if model.names != CALIBRATION_FEATURES:
        raise ValueError(f"{CALIBRATION_FILE.name} expects {model.names}, not {CALIBRATION_FEATURES}")
    return model


def calibration_columns(excess: np.ndarray, features: np.ndarray, names: Sequence[str] = CALIBRATION_FEATURES) -> np.ndarray:
    """The rows a calibration reads: the cosines' `CosineNull.excess`, then the columns of a
    `FEATURES` matrix it names (what `bench/calibrate_loo.py` fits on and a search computes alike)."""
    x = np.asarray(features, dtype=np.float64).reshape(-1, len(FEATURES))
    return np.column_stack([np.asarray(excess, dtype=np.float64), x[:, [FEATURES.index(n) for n in names[1:]]]])


class Calibrator:
    """Probability of relevance from the cosines' `CosineNull.excess` and the rows of a
    `FEATURES` matrix."""

    def __init__(self, model: LinearModel | None = None):
        self.model = model or _shipped()

    def __call__(self, excess: np.ndarray, features: np.ndarray) -> np.ndarray:
        if not len(excess):
            return np.zeros(0)
        return self.model.predict(calibration_columns(excess, features, self.model.names))
