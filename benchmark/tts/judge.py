"""The judge: a SER classifier that says which emotion synthesized speech carries.

It must not be any of the methods under comparison (a method would favour
speech conditioned on its own embeddings), so it is a plain, well-understood
model of its own: standardised utterance-level acoustic functionals
(emobench's ``functionals`` set by default: pitch, loudness, spectral shape,
MFCC statistics and rhythm; ``egemaps`` on request) and a multinomial logistic
regression with class-balanced weights, trained only on **ground-truth
recordings** of the judge's training split. Its accuracy on held-out
ground-truth recordings is measured when it is trained and reported beside
every TTS emotion accuracy it produces: synthesized speech cannot be judged
more reliably than real speech.

Its features must survive the vocoder, or its accuracy on synthesized speech
measures the vocoder instead of the emotion: the ``resynthesis`` reference of
the TTS grid (Griffin-Lim from the true log-mel of held-out recordings) is the
check, and the default features were chosen by it (see ``JudgeConfig``).

``EmotionJudge`` is the ``judge`` callable :func:`benchmark.tts.scoring.score_tts`
accepts (a list of wav paths -> predicted labels), and ``judge.info`` is its
``judge_info``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, recall_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from benchmark.errors import ConfigError, EmobenchError

FORMAT_VERSION = 1


class JudgeConfig(BaseModel):
    """The judge's feature set and classifier settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # any utterance-level feature of benchmark.features. "functionals" by measurement: a judge on them
    # labels the Griffin-Lim resyntheses of held-out recordings as well as the recordings (0.70 and 0.70
    # on the embedded corpus), while an eGeMAPS judge falls from 0.76 to 0.43 (jitter, shimmer and HNR
    # read Griffin-Lim's phase noise as high arousal), so its accuracy on vocoded TTS measures the vocoder.
    feature: str = "functionals"
    C: float = Field(1.0, gt=0)  # inverse L2 regularisation strength
    class_weight: str | None = "balanced"  # the corpora are Neutral-heavy
    max_iter: int = Field(5000, ge=100)


def _rows(paths: Sequence[str | Path]) -> pd.DataFrame:
    return pd.DataFrame({"utt_id": [f"judge{i}" for i in range(len(paths))], "path": [str(p) for p in paths]})


class EmotionJudge:
    """A fitted judge; call it on wav paths to get emotion labels."""

    def __init__(self, config: JudgeConfig, pipeline: Pipeline, classes: list[str], info: dict[str, Any]):
        self.config = config
        self.pipeline = pipeline
        self.classes = classes
        self.info = info

    # ------------------------------------------------------------------ fit / predict

    @classmethod
    def fit(cls, train: pd.DataFrame, heldout: pd.DataFrame | None = None, config: JudgeConfig | None = None,
            seed: int = 0, progress: bool = False) -> "EmotionJudge":
        """Train on the ground-truth manifest rows ``train``; measure accuracy on ``heldout`` rows."""
        config = config or JudgeConfig()
        X = _features(train, config.feature, progress)
        y = train["emotion"].astype(str).to_numpy()
        classes = sorted(set(y))
        if len(classes) < 2:
            raise ConfigError(f"judge: training rows hold only {classes}; at least two emotions are needed")
        pipeline = Pipeline([
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(C=config.C, class_weight=config.class_weight, max_iter=config.max_iter,
                                       random_state=seed)),
        ])
        pipeline.fit(X, y)
        info: dict[str, Any] = {
            "name": f"logreg({config.feature})", "feature": config.feature, "classifier": "LogisticRegression",
            "C": config.C, "class_weight": str(config.class_weight), "classes": classes, "n_train": len(train),
            "trained_on": "ground-truth recordings only; independent of the methods compared",
        }
        judge = cls(config, pipeline, classes, info)
        if heldout is not None and len(heldout):
            info.update(judge.evaluate(heldout, progress=progress))
        return judge

    def evaluate(self, rows: pd.DataFrame, progress: bool = False) -> dict[str, Any]:
        """Accuracy, UA and per-emotion recall on labelled (ground-truth) manifest rows."""
        y = rows["emotion"].astype(str).to_numpy()
        unknown = sorted(set(y) - set(self.classes))
        if unknown:
            raise ConfigError(f"judge: held-out rows have emotions {unknown} it was not trained on "
                              f"({', '.join(self.classes)})")
        pred = self.pipeline.predict(_features(rows, self.config.feature, progress))
        labels = sorted(set(y))
        out: dict[str, Any] = {
            "heldout_accuracy": float(accuracy_score(y, pred)),
            "heldout_ua": float(balanced_accuracy_score(y, pred)),
            "n_heldout": len(rows),
            "heldout_confusion": confusion_matrix(y, pred, labels=self.classes).tolist(),
        }
        recalls = recall_score(y, pred, labels=labels, average=None, zero_division=0)
        out.update({f"heldout_recall.{e}": float(r) for e, r in zip(labels, recalls)})
        return out

    def predict(self, paths: Sequence[str | Path], progress: bool = False) -> list[str]:
        """Predicted emotion of each audio file (resampled to 16 kHz mono as features require)."""
        if len(paths) == 0:
            return []
        return [str(p) for p in self.pipeline.predict(_features(_rows(paths), self.config.feature, progress))]

    def predict_proba(self, paths: Sequence[str | Path], progress: bool = False) -> np.ndarray:
        """(n, len(self.classes)) class probabilities of each audio file, columns in ``self.classes`` order."""
        if len(paths) == 0:
            return np.zeros((0, len(self.classes)))
        proba = self.pipeline.predict_proba(_features(_rows(paths), self.config.feature, progress))
        order = [list(self.pipeline.classes_).index(c) for c in self.classes]
        return proba[:, order]

    def embed(self, paths: Sequence[str | Path], space: str = "features", progress: bool = False) -> np.ndarray:
        """(n, d) emotion embeddings of audio files in the judge's space: ``features`` = its standardised input
        features (what its classifier reads), ``logits`` = its per-class decision scores."""
        if space not in ("features", "logits"):
            raise ConfigError(f"judge embedding space must be 'features' or 'logits', got {space!r}")
        if len(paths) == 0:
            return np.zeros((0, 0))
        scaled = self.pipeline.named_steps["scale"].transform(_features(_rows(paths), self.config.feature, progress))
        return scaled if space == "features" else self.pipeline.named_steps["clf"].decision_function(scaled)

    def __call__(self, paths: list[str]) -> list[str]:
        return self.predict(paths)

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path) -> Path:
        from benchmark.methods.sk_io import save_sklearn, write_json

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_sklearn(self.pipeline, path / "judge.skops")
        write_json(path / "judge.json", {"format_version": FORMAT_VERSION, "config": self.config.model_dump(),
                                         "classes": self.classes, "info": self.info})
        return path

    @classmethod
    def load(cls, path: str | Path) -> "EmotionJudge":
        from benchmark.methods.sk_io import load_sklearn, read_json

        path = Path(path)
        meta = read_json(path / "judge.json")
        if meta.get("format_version") != FORMAT_VERSION:
            raise EmobenchError(f"{path}: judge format version {meta.get('format_version')} is not {FORMAT_VERSION}")
        return cls(JudgeConfig(**meta["config"]), load_sklearn(path / "judge.skops"), list(meta["classes"]),
                   meta["info"])


def _features(rows: pd.DataFrame, feature: str, progress: bool) -> np.ndarray:
    from benchmark.features import FEATURES, extract_features, make_config

    config = make_config(feature)
    if FEATURES.get(config.name).frame_level:
        raise ConfigError(f"judge: feature {feature!r} is frame-level; the judge needs utterance-level "
                          f"functionals (e.g. egemaps, functionals)")
    feats = extract_features(rows, config, progress=progress)
    X = np.stack([feats[u] for u in rows["utt_id"]]).astype(np.float64)
    if not np.isfinite(X).all():
        finite = [bool(np.isfinite(x).all()) for x in X]
        bad = [str(p) for p, ok in zip(rows["path"], finite) if not ok]
        raise EmobenchError(f"judge: non-finite {feature} features for {bad[:5]}")
    return X


def train_judge(train: pd.DataFrame, heldout: pd.DataFrame | None = None, feature: str = "functionals",
                seed: int = 0, progress: bool = False, **settings: Any) -> EmotionJudge:
    """Shortcut: :meth:`EmotionJudge.fit` with a :class:`JudgeConfig` from keyword settings."""
    return EmotionJudge.fit(train, heldout, JudgeConfig(feature=feature, **settings), seed=seed, progress=progress)


def load_or_train_judge(path: str | Path, feature: str = "functionals", heldout_fraction: float = 0.2,
                        seed: int = 0, progress: bool = False) -> EmotionJudge:
    """A judge from ``path``: a saved judge folder (``judge.json``), or a ground-truth corpus manifest
    (CSV or Parquet in the manifest schema) to train one on.

    A trained judge holds out a seeded ``heldout_fraction`` of the manifest's speakers (at least one;
    of its utterances when it has a single speaker) and reports its accuracy on them.
    """
    from benchmark.manifest import read_manifest

    path = Path(path)
    if path.is_dir():
        if not (path / "judge.json").is_file():
            raise ConfigError(f"judge: {path} is a folder without judge.json (not a saved judge)")
        return EmotionJudge.load(path)
    if not path.is_file():
        raise ConfigError(f"judge: {path} does not exist (give a saved judge folder or a ground-truth manifest)")
    if not 0 < heldout_fraction < 1:
        raise ConfigError(f"judge: heldout_fraction must be between 0 and 1, got {heldout_fraction}")
    rows = read_manifest(path)
    rng = np.random.default_rng(seed)
    speakers = np.array(sorted(rows["speaker"].astype(str).unique()))
    if len(speakers) > 1:
        n_out = max(1, int(round(heldout_fraction * len(speakers))))
        out = rows["speaker"].astype(str).isin(rng.choice(speakers, n_out, replace=False))
    else:
        out = pd.Series(rng.random(len(rows)) < heldout_fraction, index=rows.index)
    if out.all() or not out.any():
        raise ConfigError(f"judge: {path} has too few utterances to hold any out for the judge's accuracy")
    return EmotionJudge.fit(rows[~out].reset_index(drop=True), rows[out].reset_index(drop=True),
                            JudgeConfig(feature=feature), seed=seed, progress=progress)
