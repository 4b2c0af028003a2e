"""The cosine null model against numpy, and the shipped calibration's shape."""

import numpy as np
import pytest

from index.relevance import (
    CALIBRATION_FEATURES,
    CALIBRATION_TRAIN,
    Calibrator,
    CosineNull,
    fit_calibration,
    gate_for,
    reference_null,
    shipped_gate,
)
from index.rerank import FEATURES
from kb.settings import Settings


def _unit(rng, n, d):
    v = rng.normal(size=(n, d)) + 0.3  # not centred, like real embeddings
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_null_gives_the_exact_mean_and_spread_of_a_querys_cosines():
    rng = np.random.default_rng(3)
    vectors, query = _unit(rng, 500, 16), _unit(rng, 1, 16)[0]
    null = CosineNull.fit(np.array_split(vectors, 7), 16)  # chunked == whole
    cosines = vectors @ query
    assert null.count == 500
    z = null.z(query, cosines)
    assert z.mean() == pytest.approx(0, abs=1e-9) and z.std(ddof=1) == pytest.approx(1, abs=1e-9)
    assert null.z(query, [cosines.mean() + 2 * cosines.std(ddof=1)])[0] == pytest.approx(2)


def test_excess_takes_out_what_the_best_of_n_passages_reaches_by_chance():
    """The best cosine of a query nothing answers stands out more the more passages it is
    picked from; its `excess` does not grow with them, so one cut serves a report of five
    passages and a folder of thousands."""
    rng = np.random.default_rng(5)
    best_z, best_excess = {}, {}
    for n in (20, 20_000):
        vectors = _unit(rng, n, 32)
        null = CosineNull.fit([vectors], 32)
        queries = _unit(rng, 40, 32)
        best_z[n] = np.mean([null.z(q, vectors @ q).max() for q in queries])
        best_excess[n] = np.mean([null.excess(q, vectors @ q).max() for q in queries])
        assert null.excess(queries[0], [0.5])[0] == pytest.approx(null.z(queries[0], [0.5])[0] - np.sqrt(2 * np.log(n)))
    assert best_z[20_000] - best_z[20] > 1.5
    assert abs(best_excess[20_000] - best_excess[20]) < 0.5


def test_small_collections_lean_on_the_prior(tmp_path):
    rng = np.random.default_rng(4)
    prior = CosineNull.fit([_unit(rng, 4000, 8)], 8)
    small = CosineNull.fit([_unit(rng, 20, 8) * -1], 8)
    blended = small.blend(prior)
    a = 20 / 2020
    assert np.allclose(blended.mean, a * small.mean + (1 - a) * prior.mean)
    assert np.allclose(small.blend(None).cov.diagonal().mean(), (small.cov.diagonal().mean() * 20 + np.trace(small.cov) / 8 * 2000) / 2020)
    prior.save(tmp_path / "n.npz")
    loaded = CosineNull.load(tmp_path / "n.npz")
    assert loaded.count == 4000 and np.allclose(loaded.mean, prior.mean, atol=1e-6)


def _rows(cosine, weighted_coverage, proximity):
    """`FEATURES` rows with the calibration's columns set (the others must not matter)."""
    x = np.full((len(cosine), len(FEATURES)), 7.0)
    for name, values in zip(CALIBRATION_FEATURES[1:], (cosine, weighted_coverage, proximity)):
        x[:, FEATURES.index(name)] = values
    return x


def test_calibration_is_monotone_in_every_feature_and_within_0_1():
    calibrate = Calibrator()
    assert calibrate.model.names == CALIBRATION_FEATURES
    base = calibrate([3.0], _rows([0.3], [0.5], [0.2]))[0]
    assert 0 < base < 1
    assert calibrate([6.0], _rows([0.3], [0.5], [0.2]))[0] > base
    assert calibrate([3.0], _rows([0.5], [0.5], [0.2]))[0] > base
    assert calibrate([3.0], _rows([0.3], [1.0], [0.2]))[0] > base
    x = _rows([0.3], [0.5], [0.2])
    x[:, [i for i, n in enumerate(FEATURES) if n not in CALIBRATION_FEATURES]] = 0.0
    assert calibrate([3.0], x)[0] == base  # only its own columns are read
    assert calibrate([0.0], _rows([0.0], [0.0], [0.0]))[0] < shipped_gate() / 2  # nothing in common: cut
    assert calibrate([], np.zeros((0, len(FEATURES)))).shape == (0,)


def test_the_bundled_model_has_a_reference_null():
    null = reference_null("sentence-transformers/all-MiniLM-L6-v2")
    assert null is not None and null.mean.shape == (384,) and null.count > 10_000
    assert reference_null("some/other-model") is None


def test_refitting_the_recorded_features_gives_the_shipped_calibration_and_cut():
    """bench/calibrate_loo.py --write records the features it fitted on: fitting them again
    must give the shipped weights and default cut, and the settings' default is that cut."""
    data = np.load(CALIBRATION_TRAIN)
    x, y, firsts = data["x"], data["y"], data["firsts"]
    model = fit_calibration(x, y)
    shipped = Calibrator().model
    assert np.allclose(model.weights, shipped.weights, rtol=1e-3, atol=1e-4)
    assert abs(model.bias - shipped.bias) < 1e-3
    bounds = list(firsts) + [len(x)]
    queries = [(x[a:b], y[a:b]) for a, b in zip(bounds, bounds[1:])]
    assert abs(gate_for(model, queries, 0.01) - shipped_gate()) < 1e-3
    assert 0 <= shipped_gate() - Settings.load(env={}).min_score < 0.01  # the fitted cut, rounded down
    # the cut as served (the shipped model, the setting's cut) hides at most 1% of the recorded
    # queries whose first result is right. (The fitted cut is one of those queries' own relevance:
    # the refitted model, equal to the shipped one within 1e-16 on another CPU, can put it a hair below.)
    right = [q for q in queries if q[1][0]]
    hidden = sum(shipped.predict(q[0][:1])[0] < Settings.load(env={}).min_score for q in right)
    assert 0 < len(right) and hidden <= 0.01 * len(right)
