"""Fast scoring with a trained model: batch and single row, LightGBM's own predict or the
same trees compiled to machine code (`compiled.py`, numba; lleaves when it can compile).

`Scorer` compiles the trees once, checks on probe rows that the compiled margins equal
LightGBM's (to 1e-9; measured: identical), times both, and uses the faster for batches and for
single rows separately; when they disagree it keeps LightGBM. Inputs go through the model's
feature layout, so wrong columns are refused.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fraudwatch.models.blend import DECISIONS
from fraudwatch.models.bundle import ModelBundle, Scores
from fraudwatch.models.classifier import LightGBMModel
from fraudwatch.models.layout import FeatureLayoutError

Engine = Literal["auto", "native", "compiled"]
AGREEMENT = 1e-9


@dataclass
class EngineChoice:
    batch: str
    single: str
    max_difference: float | None
    timings_us: dict[str, float]
    compiler: str = ""


class Scorer:
    def __init__(
        self,
        bundle: ModelBundle,
        *,
        engine: Engine = "auto",
        cache_dir: Path | None = None,
        probe: np.ndarray | None = None,
    ) -> None:
        self.bundle = bundle
        native = bundle.classifier.margin
        self._margins: dict[str, Callable[[np.ndarray], np.ndarray]] = {"native": native}
        self.compiler = ""
        if engine != "native" and isinstance(bundle.classifier, LightGBMModel):
            self._margins["compiled"], self.compiler = _compile(
                bundle.classifier, cache_dir or Path.home() / ".cache" / "fraudwatch-lleaves"
            )
        self.choice = self._choose(engine, probe if probe is not None else self._probe())
        self.choice.compiler = self.compiler

    def _probe(self) -> np.ndarray:
        """Rows around the training medians, with missing values, when no real rows are given."""
        rng = np.random.default_rng(0)
        fill = self.bundle.anomaly.arrays["fill"]
        rows = fill * rng.lognormal(0.0, 1.0, size=(512, len(fill)))
        rows[rng.random(rows.shape) < 0.2] = np.nan
        return np.asarray(rows, dtype=np.float64)

    def _choose(self, engine: Engine, probe: np.ndarray) -> EngineChoice:
        timings = {name: _time_batch(f, probe) for name, f in self._margins.items()}
        timings |= {f"{name}_single": _time_single(f, probe) for name, f in self._margins.items()}
        if "compiled" not in self._margins:
            return EngineChoice("native", "native", None, timings)
        difference = float(
            np.max(np.abs(self._margins["compiled"](probe) - self._margins["native"](probe)))
        )
        if engine == "compiled":
            return EngineChoice("compiled", "compiled", difference, timings)
        if difference > AGREEMENT:
            return EngineChoice("native", "native", difference, timings)
        return EngineChoice(
            min(("native", "compiled"), key=lambda n: timings[n]),
            min(("native", "compiled"), key=lambda n: timings[f"{n}_single"]),
            difference,
            timings,
        )

    def margin(self, x: np.ndarray) -> np.ndarray:
        self.bundle.layout_width_check(x)
        name = self.choice.single if len(x) == 1 else self.choice.batch
        return self._margins[name](x)

    def score(self, x: np.ndarray) -> Scores:
        """Margin, calibrated probability, anomaly percentile and blended risk per row."""
        margin = self.margin(x)
        probability = self.bundle.calibration(margin)
        anomaly = self.bundle.anomaly.percentile(x)
        return Scores(margin, probability, anomaly, self.bundle.blend(probability, anomaly))

    def score_one(self, values: Mapping[str, Any]) -> tuple[float, str]:
        """Risk and decision of one transaction given every layout column by name."""
        risk = float(self.score(self.bundle.layout.row(values)).risk[0])
        return risk, DECISIONS[int(self.bundle.thresholds.decide(np.array([risk]))[0])]


def _compile(
    classifier: LightGBMModel, cache_dir: Path
) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """lleaves if it compiles here, else the numba form of `compiled.py`."""
    try:
        import lleaves

        text = classifier.booster.model_to_string(num_iteration=classifier.best_iteration)
        digest = hashlib.sha256(text.encode()).hexdigest()[:20]
        cache_dir.mkdir(parents=True, exist_ok=True)
        model_file = cache_dir / f"{digest}.txt"
        if not model_file.is_file():
            model_file.write_text(text)
        model = lleaves.Model(model_file=str(model_file))
        model.compile(cache=str(cache_dir / f"{digest}.so"), raw_score=True)
        return (lambda x: model.predict(x, n_jobs=1)), "lleaves"
    except (AttributeError, ImportError, RuntimeError):
        from fraudwatch.models.compiled import CompiledTrees

        trees = CompiledTrees(classifier.booster, classifier.best_iteration)
        return trees.predict, "numba"


def _time_batch(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, runs: int = 5) -> float:
    """Median µs per row over a few passes of the probe batch."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        f(x)
        times.append((time.perf_counter() - started) / len(x) * 1e6)
    return float(np.median(times))


def _time_single(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, rows: int = 200) -> float:
    started = time.perf_counter()
    for i in range(min(rows, len(x))):
        f(x[i : i + 1])
    return (time.perf_counter() - started) / min(rows, len(x)) * 1e6


class ScoringModel:
    """A trained model as the scoring pipeline uses it (`scoring.pipeline.RiskModel`): columns
    are feature-set names, `scores` returns (probability, anomaly, risk), `explain` phrases.
    Needs a model trained on the feature set alone (`fraudwatch train --no-event-columns`)."""

    def __init__(self, bundle: ModelBundle, version: str, **scorer: Any) -> None:
        if bundle.layout.categories or any(
            c in ("amount_eur", "hour_of_day") for c in bundle.layout.columns
        ):
            raise FeatureLayoutError(
                "this model also reads event fields; train it with --no-event-columns to serve "
                "it from the feature matrix"
            )
        self.version = version
        self.columns = list(bundle.layout.columns)
        self.scorer = Scorer(bundle, **scorer)

    def scores(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.scorer.score(np.ascontiguousarray(x, dtype=np.float64))
        return s.probability, s.anomaly, s.risk

    def explain(self, x: np.ndarray, top: int) -> list[list[str]]:
        from fraudwatch.models.reasons import reasons

        return [[r.text for r in found] for found in reasons(self.scorer.bundle, x, top)]
