"""The metric-spec registry: every metric registered once, with what it reads and how it is shown.

A :class:`MetricSpec` says what a metric reads (a confusion matrix of a
predictions table, a per-utterance TTS table, or test embeddings), its label,
unit, print scale and digits, its direction (higher or lower is better),
whether it needs the class labels, and its Hugging Face ``model-index`` type.
The leaderboards, the report, ``compare`` and the model-index export read
these specs; nothing else keeps a list of metrics.

Registries resolve lazily: a confusion metric names its function and a TTS
scorer its class as ``"module:object"``, imported on first use, so no module
is imported for the side effect of registering something. Adding a metric is
one module (its function or scorer class) plus one registration::

    METRICS.register(MetricSpec("g_mean", reads="confusion", label="G-mean",
                                compute="my_pkg.metrics:g_mean", hf_type="g_mean"))
    register_tts_scorer("toy", "my_pkg.toy:ToyScorer",
                        [MetricSpec("toy_score", reads="tts_table", label="Toy", unit="", scale=1.0,
                                    numerator="toy_score")])

``recall.<class>`` is a family: :meth:`MetricRegistry.get` derives its spec
for any class name.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal

import numpy as np

from benchmark.errors import ConfigError

Reads = Literal["confusion", "tts_table", "embeddings"]
Direction = Literal["higher", "lower", "neither"]
RECALL_PREFIX = "recall."


def resolve(target: str | object, what: str = "object") -> Any:
    """The object a ``"module:object"`` string names (objects themselves are returned as they are)."""
    if not isinstance(target, str):
        return target
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"{what} {target!r}: expected 'module:object'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{what} {target!r}: cannot import {module_name} ({exc})") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{what} {target!r}: {module_name} has no {attr!r}") from None
    return obj


@dataclass(frozen=True)
class MetricSpec:
    """One metric: what it reads, how it is computed and shown.

    ``compute`` (confusion metrics): ``"module:function"``, called with one or many (..., k, k)
    confusion matrices (and the class labels when ``needs_labels``), returning one value per matrix.
    ``numerator``/``denominator`` (TTS metrics): columns of the per-utterance table; a seed's value is
    sum(numerator) / sum(denominator) over its utterances, or without a denominator the mean of the
    numerator over the utterances where it is finite. ``scale`` and ``digits``: how it is printed
    (``scale * value``); ``unit`` is the printed value's unit.
    """

    name: str
    reads: Reads
    label: str
    unit: str = "%"
    scale: float = 100.0
    digits: int = 1
    direction: Direction = "higher"
    needs_labels: bool = False
    hf_type: str | None = None        # Hugging Face model-index metric type
    hf_name: str | None = None        # its display name there (default: label and unit)
    hf_args: dict[str, Any] | None = None
    description: str = ""
    compute: str | Callable[..., np.ndarray] | None = None
    numerator: str | None = None
    denominator: str | None = None
    scorer: str | None = None         # the TTS scorer that writes its columns
    in_report: bool = True            # a column of the report's leaderboard / TTS table (TTS: when cells carry it)

    def __post_init__(self) -> None:
        if not self.name or not self.label:
            raise ConfigError(f"metric spec {self.name!r}: name and label must be non-empty")
        if self.reads not in ("confusion", "tts_table", "embeddings"):
            raise ConfigError(f"metric {self.name!r}: reads must be confusion, tts_table or embeddings, "
                              f"got {self.reads!r}")
        if self.direction not in ("higher", "lower", "neither"):
            raise ConfigError(f"metric {self.name!r}: direction must be higher, lower or neither, "
                              f"got {self.direction!r}")
        if self.reads == "confusion" and self.compute is None and not self.name.startswith(RECALL_PREFIX):
            raise ConfigError(f"metric {self.name!r}: a confusion metric needs compute='module:function'")
        if self.reads == "tts_table" and not self.numerator:
            raise ConfigError(f"metric {self.name!r}: a TTS-table metric needs its numerator column")

    def function(self) -> Callable[..., np.ndarray]:
        """The confusion-matrix function (imported on first use)."""
        if self.compute is None:
            raise ConfigError(f"metric {self.name!r} reads {self.reads}, not a confusion matrix")
        return _resolved(self.compute, f"metric {self.name!r} compute")

    def format(self, value: float | None) -> str:
        """The value as printed in tables: ``scale * value`` with ``digits`` decimals, "–" when missing."""
        if value is None or not np.isfinite(value):
            return "–"
        return f"{self.scale * float(value):.{self.digits}f}"

    def header(self, label: str | None = None) -> str:
        label = label or self.label
        return f"{label} ({self.unit})" if self.unit else label

    @property
    def better(self) -> str:
        return {"higher": "higher is better", "lower": "lower is better", "neither": "closer to 1 is better"
                }[self.direction]

    @property
    def sign(self) -> int:
        """+1 when higher is better, -1 when lower is better, 0 when neither (drops are not gated)."""
        return {"higher": 1, "lower": -1, "neither": 0}[self.direction]


_RESOLVED: dict[str, Any] = {}


def _resolved(target: str | Callable[..., Any], what: str) -> Any:
    if not isinstance(target, str):
        return target
    if target not in _RESOLVED:
        _RESOLVED[target] = resolve(target, what)
    return _RESOLVED[target]


class MetricRegistry:
    """Name -> :class:`MetricSpec`; ``recall.<class>`` is derived for any class."""

    def __init__(self) -> None:
        self._specs: dict[str, MetricSpec] = {}

    def register(self, spec: MetricSpec) -> MetricSpec:
        if spec.name in self._specs and self._specs[spec.name] != spec:
            raise ConfigError(f"metric {spec.name!r} is registered twice")
        self._specs[spec.name] = spec
        return spec

    def unregister(self, name: str) -> None:
        """Remove a registration (tests that register a toy metric clean up with it)."""
        self._specs.pop(name, None)

    def get(self, name: str) -> MetricSpec:
        if name in self._specs:
            return self._specs[name]
        if name.startswith(RECALL_PREFIX) and len(name) > len(RECALL_PREFIX):
            cls = name.removeprefix(RECALL_PREFIX)
            return replace(self._specs[RECALL_PREFIX], name=name, label=f"Recall {cls}",
                           hf_name=f"Recall of {cls} (%)", hf_args={"labels": cls})
        raise ConfigError(f"unknown metric {name!r}; known: {', '.join(self.names())}, recall.<class>")

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return name in self._specs or (name.startswith(RECALL_PREFIX) and len(name) > len(RECALL_PREFIX))

    def names(self, reads: Reads | None = None) -> list[str]:
        """Registered names (in registration order), without the ``recall.`` family."""
        return [n for n, s in self._specs.items() if n != RECALL_PREFIX and (reads is None or s.reads == reads)]

    def reads(self, name: str, reads: Reads) -> bool:
        return name in self and self.get(name).reads == reads

    def __iter__(self) -> Iterator[MetricSpec]:
        return iter([s for n, s in self._specs.items() if n != RECALL_PREFIX])


METRICS = MetricRegistry()


# ----------------------------------------------------------------------------- TTS scorers


@dataclass
class ScorerEntry:
    name: str
    target: str | type
    metrics: tuple[str, ...] = field(default_factory=tuple)

    def load(self) -> type:
        return _resolved(self.target, f"TTS scorer {self.name!r}")


class ScorerRegistry:
    """Name -> TTS scorer class (``"module:Class"``, imported on first use) and the metrics it writes."""

    def __init__(self) -> None:
        self._entries: dict[str, ScorerEntry] = {}

    def register(self, name: str, target: str | type, metrics: Sequence[MetricSpec] = ()) -> ScorerEntry:
        if name in self._entries and self._entries[name].target != target:
            raise ConfigError(f"TTS scorer {name!r} is registered twice")
        for spec in metrics:
            if spec.reads != "tts_table":
                raise ConfigError(f"TTS scorer {name!r}: metric {spec.name!r} must read the tts_table")
            METRICS.register(replace(spec, scorer=name) if spec.scorer is None else spec)
        entry = ScorerEntry(name, target, tuple(s.name for s in metrics))
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        entry = self._entries.pop(name, None)
        for metric in entry.metrics if entry else ():
            METRICS.unregister(metric)

    def get(self, name: str) -> ScorerEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(f"unknown TTS scorer {name!r}; known: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries


TTS_SCORERS = ScorerRegistry()


def register_tts_scorer(name: str, target: str | type, metrics: Sequence[MetricSpec] = ()) -> ScorerEntry:
    """Register a TTS scorer class and the per-utterance metrics it writes (one call)."""
    return TTS_SCORERS.register(name, target, metrics)


# ----------------------------------------------------------------------------- built-in metrics

_SER = "benchmark.metrics.ser"
for _spec in (
    MetricSpec("ua", "confusion", "UA", compute=f"{_SER}:unweighted_accuracy", hf_type="recall",
               hf_name="UA (unweighted average recall, %)", hf_args={"average": "macro"},
               description="mean per-class recall over the classes present in the test set"),
    MetricSpec("wa", "confusion", "WA", compute=f"{_SER}:weighted_accuracy", hf_type="accuracy",
               hf_name="WA (accuracy, %)", description="overall accuracy"),
    MetricSpec("macro_f1", "confusion", "Macro-F1", compute=f"{_SER}:macro_f1", hf_type="f1",
               hf_name="Macro-F1 (%)", hf_args={"average": "macro"},
               description="mean F1 over the classes present in y_true or y_pred"),
    MetricSpec("minority_recall", "confusion", "Minority recall", compute=f"{_SER}:minority_recall",
               needs_labels=True, hf_type="recall",
               hf_name="Minority-class recall (mean over non-Neutral classes, %)",
               description="mean recall of the non-Neutral classes present in the test set",
               in_report=False),   # the report's imbalance section shows it
    # the recall.<class> family (one spec, derived per class by METRICS.get)
    MetricSpec(RECALL_PREFIX, "confusion", "Recall", hf_type="recall", description="recall of one class",
               in_report=False),
    MetricSpec("speaker_probe_acc", "embeddings", "Speaker probe acc.", direction="lower", hf_type="accuracy",
               hf_name="Speaker-probe accuracy (speaker leakage, lower is better, %)",
               description="linear speaker probe on the frozen test embeddings"),
    MetricSpec("speaker_probe_chance", "embeddings", "Speaker chance", direction="neither", hf_type="accuracy",
               hf_name="Speaker-probe chance level (%)", description="majority-speaker rate"),
):
    METRICS.register(_spec)


def _tts(name: str, label: str, numerator: str, unit: str, scale: float, digits: int, direction: Direction,
         hf_type: str, hf_name: str, description: str, denominator: str | None = None,
         in_report: bool = True) -> MetricSpec:
    return MetricSpec(name, "tts_table", label, unit=unit, scale=scale, digits=digits, direction=direction,
                      hf_type=hf_type, hf_name=hf_name, description=description, numerator=numerator,
                      denominator=denominator, in_report=in_report)


_SCORERS = "benchmark.tts.scorers"
register_tts_scorer("asr", f"{_SCORERS}:AsrScorer", [
    _tts("wer", "WER", "word_errors", "%", 100.0, 1, "lower", "wer", "WER (Whisper ASR, corpus-level, %)",
         "corpus-level WER (summed word errors / summed reference words)", denominator="ref_words"),
    _tts("cer", "CER", "char_errors", "%", 100.0, 1, "lower", "cer", "CER (Whisper ASR, corpus-level, %)",
         "corpus-level CER (summed character errors / summed reference characters)", denominator="ref_chars"),
    _tts("wer_mean", "Mean utt. WER", "wer", "%", 100.0, 1, "lower", "wer", "Mean per-utterance WER (%)",
         "mean of per-utterance WERs", in_report=False),
    _tts("cer_mean", "Mean utt. CER", "cer", "%", 100.0, 1, "lower", "cer", "Mean per-utterance CER (%)",
         "mean of per-utterance CERs", in_report=False),
])
register_tts_scorer("mcd", f"{_SCORERS}:McdScorer", [
    _tts("mcd_db", "MCD", "mcd_db", "dB", 1.0, 2, "lower", "mcd",
         "MCD against the ground truth (dB, lower is better)", "mel-cepstral distortion against the ground truth"),
])
register_tts_scorer("prosody", f"{_SCORERS}:ProsodyScorer", [
    _tts("f0_rmse_hz", "F0 RMSE", "f0_rmse_hz", "Hz", 1.0, 1, "lower", "f0_rmse",
         "F0 RMSE against the ground truth (Hz, lower is better)", "F0 RMSE against the ground truth"),
    _tts("f0_rmse_cents", "F0 RMSE", "f0_rmse_cents", "cents", 1.0, 0, "lower", "f0_rmse",
         "F0 RMSE against the ground truth (cents, lower is better)", "F0 RMSE against the ground truth",
         in_report=False),
    _tts("f0_corr", "F0 corr.", "f0_corr", "", 1.0, 2, "higher", "pearsonr", "F0 correlation with the ground truth",
         "F0 correlation with the ground truth", in_report=False),
    _tts("vuv_disagreement", "V/UV disagreement", "vuv_disagreement", "%", 100.0, 1, "lower", "vuv_disagreement",
         "Voiced/unvoiced disagreement (%)", "voiced/unvoiced disagreement with the ground truth", in_report=False),
    _tts("duration_ratio", "Duration ratio", "duration_ratio", "", 1.0, 2, "neither", "duration_ratio",
         "Duration ratio to the ground truth", "duration / ground-truth duration", in_report=False),
])
register_tts_scorer("judge", f"{_SCORERS}:JudgeScorer")   # writes judge_pred; scored as ua/wa/recall.<class>
register_tts_scorer("speaker_similarity", "benchmark.tts.speaker_similarity:SpeakerSimilarityScorer", [
    _tts("spk_sim", "Speaker sim.", "spk_sim", "", 1.0, 3, "higher", "cosine_similarity",
         "Speaker similarity to the ground truth (GE2E cosine)",
         "cosine of GE2E speaker embeddings (resemblyzer) of the synthesized and the ground-truth recording"),
])
register_tts_scorer("mos", "benchmark.tts.mos:MosScorer", [
    _tts("mos_pred", "Predicted MOS", "mos_pred", "", 1.0, 2, "higher", "mos", "Predicted MOS (DistillMOS, 1-5)",
         "MOS predicted by DistillMOS (1-5), no reference needed"),
])
register_tts_scorer("emotion_similarity", "benchmark.tts.emotion_similarity:EmotionSimilarityScorer", [
    _tts("emo_sim", "Emotion sim.", "emo_sim", "", 1.0, 3, "higher", "cosine_similarity",
         "Emotion similarity to the ground truth (judge-space cosine)",
         "cosine of the judge's emotion embeddings of the synthesized and the ground-truth recording "
         "(also tracks speaker and wording)"),
])


__all__ = ["METRICS", "MetricRegistry", "MetricSpec", "ScorerRegistry", "TTS_SCORERS", "register_tts_scorer",
           "resolve", "RECALL_PREFIX"]
