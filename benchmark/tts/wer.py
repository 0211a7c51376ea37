"""Word and character error rates of ASR transcripts, with the settings that made them.

Texts are normalised with Whisper's normalisers (``EnglishTextNormalizer``
for English, ``BasicTextNormalizer`` for other languages: lower-case, strip
punctuation and symbols) and aligned with jiwer. The headline **WER is
corpus-level**: edit errors (substitutions + deletions + insertions) summed
over the corpus divided by the summed reference words. The mean of
per-utterance WERs, reported by some published evaluations, sits beside it.
CER is computed the same way on characters of the normalised text (spaces
count as characters, as in jiwer).

A WER depends on the ASR backend, model, decoding settings and normaliser;
:func:`check_comparable` refuses to compare two WERs made differently.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from benchmark.errors import EmobenchError
from benchmark.registry import Registry

Normaliser = Callable[[str], str]

NORMALISERS: Registry[Callable[[], Normaliser]] = Registry("text normaliser")


@NORMALISERS.register("whisper_english")
def _whisper_english() -> Normaliser:
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


@NORMALISERS.register("whisper_basic")
def _whisper_basic() -> Normaliser:
    from whisper.normalizers import BasicTextNormalizer

    return BasicTextNormalizer()


@NORMALISERS.register("none")
def _identity() -> Normaliser:
    return lambda text: text


# "auto" picks per utterance language; it is recorded as "auto" with this rule.
AUTO_RULE = "auto (whisper_english for en, whisper_basic otherwise)"

# The settings that must be equal for two WERs to be comparable.
COMPARABILITY_KEYS: tuple[str, ...] = (
    "backend", "model", "model_sha256", "compute_type", "beam_size", "temperature", "language", "normaliser",
)


# Without these a WER's provenance is unknown, so it is comparable to nothing.
REQUIRED_KEYS: tuple[str, ...] = ("backend", "model", "normaliser")


class IncomparableError(EmobenchError):
    """Two WER results were made with different ASR or normalisation settings."""


def resolve_normaliser(name: str, language: str | None) -> str:
    """The concrete normaliser ``name`` stands for on an utterance in ``language``."""
    if name == "auto":
        return "whisper_english" if (language or "en").lower().startswith("en") else "whisper_basic"
    NORMALISERS.get(name)  # raises ConfigError on unknown names
    return name


@dataclass
class WerResult:
    """Corpus-level and per-utterance error rates plus the settings behind them."""

    wer: float  # corpus-level: summed errors / summed reference words (headline)
    wer_mean: float  # mean of per-utterance WER
    cer: float
    cer_mean: float
    n_utterances: int
    n_ref_words: int
    n_ref_chars: int
    per_utterance: pd.DataFrame
    settings: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {"wer": self.wer, "wer_mean": self.wer_mean, "cer": self.cer, "cer_mean": self.cer_mean,
                "n_utterances": self.n_utterances, "n_ref_words": self.n_ref_words, "n_ref_chars": self.n_ref_chars}

    def to_dict(self) -> dict:
        return {**self.summary(), "settings": dict(self.settings)}


def score_transcripts(
    references: Sequence[str],
    hypotheses: Sequence[str],
    *,
    utt_ids: Sequence[str] | None = None,
    languages: Sequence[str | None] | None = None,
    normaliser: str = "auto",
    asr_settings: Mapping[str, object] | None = None,
) -> WerResult:
    """WER and CER of ``hypotheses`` against ``references`` (one pair per utterance).

    ``asr_settings`` (backend, model, decoding) is recorded beside the numbers
    together with the normaliser. An utterance whose reference is empty after
    normalisation raises ``ValueError`` naming it (its WER is undefined).
    """
    import jiwer

    n = len(references)
    if len(hypotheses) != n:
        raise ValueError(f"{n} references but {len(hypotheses)} hypotheses")
    utt_ids = list(utt_ids) if utt_ids is not None else [str(i) for i in range(n)]
    languages = list(languages) if languages is not None else [None] * n
    cache: dict[str, Normaliser] = {}
    rows = []
    for utt, ref, hyp, lang in zip(utt_ids, references, hypotheses, languages, strict=True):
        name = resolve_normaliser(normaliser, lang)
        norm = cache.setdefault(name, NORMALISERS.get(name)())
        ref_n, hyp_n = " ".join(norm(ref).split()), " ".join(norm(hyp or "").split())
        if not ref_n:
            raise ValueError(f"utterance {utt!r}: reference {ref!r} is empty after {name} normalisation")
        w = jiwer.process_words(ref_n, hyp_n)
        c = jiwer.process_characters(ref_n, hyp_n)
        ref_words = w.hits + w.substitutions + w.deletions
        ref_chars = c.hits + c.substitutions + c.deletions
        word_err = w.substitutions + w.deletions + w.insertions
        char_err = c.substitutions + c.deletions + c.insertions
        rows.append({
            "utt_id": utt, "language": lang, "normaliser": name, "reference": ref, "hypothesis": hyp,
            "reference_norm": ref_n, "hypothesis_norm": hyp_n,
            "wer": word_err / ref_words, "cer": char_err / ref_chars,
            "substitutions": w.substitutions, "deletions": w.deletions, "insertions": w.insertions,
            "word_errors": word_err, "ref_words": ref_words, "char_errors": char_err, "ref_chars": ref_chars,
        })
    table = pd.DataFrame(rows)
    if table.empty:
        raise ValueError("no utterances to score")
    n_words, n_chars = int(table["ref_words"].sum()), int(table["ref_chars"].sum())
    settings = dict(asr_settings or {})
    settings["normaliser"] = AUTO_RULE if normaliser == "auto" else normaliser
    return WerResult(
        wer=table["word_errors"].sum() / n_words,
        wer_mean=float(table["wer"].mean()),
        cer=table["char_errors"].sum() / n_chars,
        cer_mean=float(table["cer"].mean()),
        n_utterances=len(table),
        n_ref_words=n_words,
        n_ref_chars=n_chars,
        per_utterance=table,
        settings=settings,
    )


def _settings_of(x: WerResult | Mapping[str, object], prefix: str) -> Mapping[str, object]:
    if isinstance(x, WerResult):
        return x.settings
    if prefix:  # MLflow params logged as "asr.backend", ...
        return {k[len(prefix):]: v for k, v in x.items() if k.startswith(prefix)}
    return x


def _canonical(value: object) -> str:
    """Compare settings as MLflow stores params: as strings (0 == 0.0 == "0.0")."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value))
    if isinstance(value, str):
        try:
            return repr(float(value))
        except ValueError:
            return value
    return str(value)


def check_comparable(a: WerResult | Mapping[str, object], b: WerResult | Mapping[str, object],
                     *, prefix: str = "") -> None:
    """Raise :class:`IncomparableError` unless ``a`` and ``b`` were made with the same ASR and normaliser.

    Accepts :class:`WerResult` objects or their settings mappings (``prefix``
    strips a key prefix such as ``"asr."`` from MLflow params). A setting
    missing from either side is a difference too: comparability cannot be shown.
    When both sides carry the checkpoint's content hash, the model is compared
    by hash, not by the name or path it was loaded from.
    """
    sa, sb = _settings_of(a, prefix), _settings_of(b, prefix)
    keys = list(COMPARABILITY_KEYS)
    if _has_hash(sa) and _has_hash(sb):
        keys.remove("model")  # same weights file under another path or name is the same model
    diffs = []
    for key in keys:
        va, vb = sa.get(key, _MISSING), sb.get(key, _MISSING)
        if va is _MISSING and vb is _MISSING:
            if key in REQUIRED_KEYS:
                diffs.append(f"{key}: missing on both sides")
            continue
        if va is _MISSING or vb is _MISSING or _canonical(va) != _canonical(vb):
            diffs.append(f"{key}: {_show(va)} vs {_show(vb)}")
    if diffs:
        raise IncomparableError("WERs made with different ASR/normalisation settings cannot be compared: "
                                + "; ".join(diffs))


_MISSING = object()


def _has_hash(settings: Mapping[str, object]) -> bool:
    value = settings.get("model_sha256")
    return isinstance(value, str) and value not in ("", "n/a")


def _show(value: object) -> str:
    return "(missing)" if value is _MISSING else repr(value)
