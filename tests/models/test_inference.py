"""Fast inference (compiled trees, the numba Isolation Forest), reason codes."""

from __future__ import annotations

import math
import random
from datetime import date

import numpy as np
import pytest

from fraudwatch.models.anomaly import AnomalyDetector
from fraudwatch.models.blend import Thresholds
from fraudwatch.models.bundle import ModelBundle
from fraudwatch.models.classifier import LightGBMModel
from fraudwatch.models.compiled import CompiledTrees
from fraudwatch.models.dataset import FeatureFrame
from fraudwatch.models.evaluate import EvaluationSet
from fraudwatch.models.inference import Scorer, ScoringModel
from fraudwatch.models.layout import FeatureLayoutError
from fraudwatch.models.reasons import explain, phrase, reasons
from fraudwatch.models.split import TimeSplit
from fraudwatch.models.train import train
from fraudwatch.scoring.model import EVENT_FIELDS, BundleModel
from tests.features.strategies import random_transactions
from tests.models.conftest import fast_options


def test_compiled_trees_equal_lightgbm_exactly(trained: tuple[ModelBundle, EvaluationSet]) -> None:
    bundle, data = trained
    x = bundle.layout.matrix(data.rows)
    assert np.isnan(x).any()  # missing values take LightGBM's default directions
    compiled = CompiledTrees(bundle.classifier.booster)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(compiled.predict(x), bundle.classifier.margin(x))


def test_compiled_trees_handle_categorical_splits() -> None:
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    x = np.column_stack([rng.integers(0, 6, 3000).astype(float), rng.normal(size=3000)])
    x[rng.random(3000) < 0.1, 0] = np.nan
    y = (np.isin(x[:, 0], [1, 4]) ^ (x[:, 1] > 1.5)).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "min_data_per_group": 5, "cat_smooth": 1},
        lgb.Dataset(x, y, categorical_feature=[0]),
        num_boost_round=20,
    )
    assert "==" in str(booster.dump_model())  # the model really splits on categories
    probe = np.vstack([x[:500], [[np.nan, 0.0], [-1.0, 2.0], [9.0, 0.0]]])
    np.testing.assert_array_equal(
        CompiledTrees(booster).predict(probe), booster.predict(probe, raw_score=True)
    )


def test_anomaly_kernel_equals_scikit_learn() -> None:
    from sklearn.ensemble import IsolationForest

    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 6))
    x[rng.random(x.shape) < 0.1] = np.nan
    detector = AnomalyDetector.fit(x, trees=30, seed=5)
    filled = np.where(np.isfinite(x), x, detector.arrays["fill"])
    forest = IsolationForest(n_estimators=30, max_samples=256, random_state=5).fit(filled)
    np.testing.assert_array_equal(detector.raw(x), -forest.score_samples(filled))
    infinite = x[:300].copy()  # filled like missing values; alone, row by row, as in a batch
    infinite[rng.random(infinite.shape) < 0.1] = np.inf
    infinite[rng.random(infinite.shape) < 0.1] = -np.inf
    fill = detector.arrays["fill"]
    expected = -forest.score_samples(np.where(np.isfinite(infinite), infinite, fill))
    np.testing.assert_array_equal(detector.raw(infinite), expected)
    np.testing.assert_array_equal([detector.raw(row[None])[0] for row in infinite], expected)
    # Just above each root's threshold in float64, at or below it once rounded to float32 as
    # scikit-learn rounds its inputs: the side scikit-learn takes.
    a = detector.arrays
    edge = np.tile(fill, (len(a["roots"]), 1))
    for t, root in enumerate(a["roots"]):
        edge[t, a["feature"][root]] = np.nextafter(a["threshold"][root], np.inf)
    np.testing.assert_array_equal(detector.raw(edge), -forest.score_samples(edge))
    # A forest of single-leaf trees (every training row alike) scores too.
    alike = AnomalyDetector.fit(np.ones((40, 3)), trees=3, seed=1)
    forest = IsolationForest(n_estimators=3, max_samples=40, random_state=1).fit(np.ones((40, 3)))
    probe = np.nan_to_num(x[:5, :3])
    np.testing.assert_array_equal(alike.raw(probe), -forest.score_samples(probe))
    percentile = detector.percentile(x)
    assert percentile.min() >= 0 and percentile.max() <= 1
    assert abs(np.median(percentile) - 0.5) < 0.05  # percentiles of the training rows


def test_scorer_batch_and_single_row_agree(trained: tuple[ModelBundle, EvaluationSet]) -> None:
    bundle, data = trained
    x = bundle.layout.matrix(data.rows)
    scorer = Scorer(bundle, probe=x[:256])
    assert scorer.choice.max_difference == 0.0
    batch = scorer.score(x[:50]).risk
    np.testing.assert_array_equal(batch, bundle.score_matrix(x[:50]).risk)
    single = [scorer.score(x[i : i + 1]).risk[0] for i in range(50)]
    np.testing.assert_array_equal(single, batch)
    row = data.rows.iloc[0]
    risk, decision = scorer.score_one({name: row[name] for name in bundle.layout.columns})
    assert risk == pytest.approx(batch[0], abs=0, rel=0)
    assert decision in ("approve", "review", "step_up", "block")
    with pytest.raises(FeatureLayoutError):
        scorer.score(x[:, :-1])
    with pytest.raises(FeatureLayoutError):
        scorer.score_one({"amount_eur": 1.0})


def test_reasons_are_shap_contributions_of_flagged_rows_only(
    trained: tuple[ModelBundle, EvaluationSet],
) -> None:
    bundle, data = trained
    x = bundle.layout.matrix(data.rows)
    contributions = bundle.classifier.contributions(x[:100])
    np.testing.assert_allclose(contributions.sum(axis=1), bundle.classifier.margin(x[:100]))
    risk = bundle.score_matrix(x).risk
    cut = np.quantile(risk, [0.98, 0.99, 0.995])  # the riskiest 2 % reach review
    decisions = Thresholds(float(cut[0]), float(cut[1]), float(cut[2])).decide(risk)
    assert (decisions >= 1).any() and (decisions == 0).any()
    explained = explain(bundle, x, decisions)
    assert all((e is None) == (d == 0) for e, d in zip(explained, decisions, strict=True))
    riskiest = int(np.argmax(risk))
    found = reasons(bundle, x[riskiest : riskiest + 1])[0]
    assert found and all(r.contribution > 0 for r in found)
    assert [r.contribution for r in found] == sorted((r.contribution for r in found), reverse=True)


@pytest.mark.parametrize(
    ("feature", "value", "text"),
    [
        ("amount_ratio_to_mean_30d_by_customer", 9.0, "amount 9.0x the customer's usual (30 days)"),
        ("merchant_country_distinct_1h_by_card", 3.0, "3rd country on this card in an hour"),
        ("tx_count_10m_by_card", 7.0, "7 payments on this card in 10 minutes"),
        ("device_first_seen_30d_by_customer", 1.0, "first device for this customer in 30 days"),
        ("mismatch_ip_country_billing_country", 1.0, "ip country differs from billing country"),
        ("fraud_count_7d_by_terminal", 2.0, "2 known frauds at this terminal in 7 days"),
        ("time_since_last_by_card", 45.0, "45 seconds since the card's previous payment"),
        ("attr_V14", -2.5, "V14 = -2.5"),
        ("merchant_country_distinct_1h_by_card", math.inf, "inf country on this card in an hour"),
    ],
)
def test_reason_phrases(feature: str, value: float, text: str) -> None:
    assert phrase(feature, value) == text


def test_scoring_model_serves_a_feature_set_only_model(simulated_frame: FeatureFrame) -> None:
    from dataclasses import replace

    split = TimeSplit.from_days(date(2026, 1, 5), train_days=18, delay_days=4, test_days=8)
    options = replace(fast_options(), event_columns=False)
    bundle = train(simulated_frame, split, options)
    assert list(bundle.layout.columns) == simulated_frame.feature_names
    model = ScoringModel(bundle, "1")
    x = simulated_frame.rows[model.columns].to_numpy()[:200]
    _, _, risk = model.scores(x)
    np.testing.assert_array_equal(risk, bundle.score_matrix(x).risk)
    assert len(model.explain(x[:3], 2)) == 3


def test_bundle_model_input_is_the_layout_row(trained: tuple[ModelBundle, EvaluationSet]) -> None:
    """`BundleModel` builds the model input from the pipeline's feature matrix (its columns in
    another order, one unused) and the transactions' own fields: `layout.row` of the same
    values, bit for bit."""
    bundle, _ = trained
    layout = bundle.layout
    names = [c for c in layout.columns if c not in EVENT_FIELDS and c not in layout.categories]
    names = [*names[::-1], "unused"]
    rows = random_transactions(random.Random(0), 9)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(len(rows), len(names)))
    features[rng.random(features.shape) < 0.2] = np.nan
    want = []
    for row, values in zip(rows, features.tolist(), strict=True):
        named = dict(zip(names[:-1], values, strict=False))
        own = {name: getattr(row, name) for name in layout.categories}
        want.append(
            layout.row(named | own | {"amount_eur": row.amount / 1e6, "hour_of_day": row.hour})
        )
    got = BundleModel(bundle, names, "1")._input(features, rows)
    np.testing.assert_array_equal(got.view(np.int64), np.vstack(want).view(np.int64))


def test_bundle_model_builds_its_explainer_when_loaded(
    trained: tuple[ModelBundle, EvaluationSet],
) -> None:
    """The SHAP explainer (a tenth of a second or more from the booster's dump) is built when
    the model is loaded to serve, not by the first flagged transaction."""
    bundle, _ = trained
    classifier = bundle.classifier
    assert isinstance(classifier, LightGBMModel)
    classifier._explainer = None  # as loaded from disk
    BundleModel(bundle, list(bundle.layout.columns), "1")
    assert classifier._explainer is not None
