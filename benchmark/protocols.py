"""Evaluation protocols: pure functions from a Manifest to a list of Splits.

Each protocol is registered with its config (a pydantic model, unknown keys
are errors) and is deterministic for a seed::

    splits = make_splits(manifest, "speaker_kfold", k=5, seed=0)

Validation speakers always come from the training side, never from the test
fold or its speakers. Every speaker-disjoint protocol asserts zero speaker
overlap between train/val and test and sets ``speaker_independent=True``.
Rows whose emotion is outside the protocol's label set are left out of every
split; how many is recorded in ``Split.meta["excluded"]``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sklearn.model_selection import StratifiedGroupKFold

from benchmark.errors import ConfigError, ManifestError
from benchmark.labels import CORE4, NEUTRAL, label_map
from benchmark.registry import Registry
from benchmark.splits import Split


class ProtocolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labels: list[str] = Field(default_factory=lambda: list(CORE4))
    merge_excited: bool = True          # IEMOCAP convention: excited counts as happy
    val_fraction: float = Field(0.15, ge=0, lt=1)  # share of training speakers held out for validation
    seed: int = 0


@dataclass(frozen=True)
class Protocol:
    fn: Callable[[pd.DataFrame, Any], list[Split]]
    Config: type[ProtocolConfig]


PROTOCOLS: Registry[Protocol] = Registry("protocol")


def register(name: str, config: type[ProtocolConfig]):
    def decorator(fn):
        PROTOCOLS.register(name)(Protocol(fn, config))
        return fn
    return decorator


def make_splits(manifest: pd.DataFrame, name: str, **config: Any) -> list[Split]:
    """Run protocol ``name`` on ``manifest`` with ``config`` (validated; errors name the key)."""
    protocol = PROTOCOLS.get(name)
    try:
        cfg = protocol.Config(**config)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"protocol {name!r}: {problems}") from None
    splits = protocol.fn(manifest, cfg)
    for split in splits:
        if split.speaker_independent:
            split.check_speaker_disjoint(manifest)
    return splits


# ----------------------------------------------------------------------------- helpers


def _labelled(manifest: pd.DataFrame, cfg: ProtocolConfig) -> tuple[pd.DataFrame, dict[str, str], int]:
    """Rows whose emotion maps into the label set (emotion column mapped), the map, and how many were left out."""
    mapping = label_map(tuple(cfg.labels), merge_excited=cfg.merge_excited)
    keep = manifest["emotion"].isin(list(mapping))
    rows = manifest[keep].copy()
    rows["emotion"] = rows["emotion"].map(mapping)
    if rows.empty:
        raise ManifestError("protocol", [f"no utterance has an emotion in the label set {cfg.labels}"])
    return rows, mapping, int((~keep).sum())


def _speakers_by_language(rows: pd.DataFrame) -> dict[str, list[str]]:
    return {lang: sorted(part["speaker"].unique()) for lang, part in rows.groupby("language", sort=True)}


def _pick_speakers(rows: pd.DataFrame, fraction: float, rng: np.random.Generator, *, at_least_one: bool) -> list[str]:
    """About ``fraction`` of the speakers, drawn per language (and alternating gender where known)."""
    if fraction <= 0:
        return []
    picked: list[str] = []
    gender = rows.drop_duplicates("speaker").set_index("speaker")["gender"] if "gender" in rows else None
    for speakers in _speakers_by_language(rows).values():
        if len(speakers) < 2:
            continue
        n = min(len(speakers) - 1, max(1 if at_least_one else 0, round(fraction * len(speakers))))
        order = list(rng.permutation(speakers))
        if gender is not None:  # alternate genders so a held-out set is not all one gender
            rank: dict[str, int] = {}
            seen: dict[str, int] = {}
            for s in order:
                rank[s] = seen.get(gender.get(s), 0)
                seen[gender.get(s)] = rank[s] + 1
            order.sort(key=rank.__getitem__)
        picked.extend(order[:n])
    return sorted(picked)


def _split(protocol: str, fold: str, train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame,
           cfg: ProtocolConfig, mapping: dict[str, str], excluded: int, independent: bool = True,
           **meta: Any) -> Split:
    labels = tuple(c for c in cfg.labels if c in set(train["emotion"]))
    meta = {"excluded": excluded, **meta}
    return Split(protocol=protocol, fold=fold, train_ids=tuple(train["utt_id"]), val_ids=tuple(val["utt_id"]),
                 test_ids=tuple(test["utt_id"]), labels=labels,
                 label_map={k: v for k, v in mapping.items() if v in labels},
                 speaker_independent=independent, meta=meta)


def _train_val(rest: pd.DataFrame, cfg: ProtocolConfig, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    val_speakers = _pick_speakers(rest, cfg.val_fraction, rng, at_least_one=True)
    is_val = rest["speaker"].isin(val_speakers)
    return rest[~is_val], rest[is_val]


# ----------------------------------------------------------------------------- protocols


class KFoldConfig(ProtocolConfig):
    k: int = Field(5, ge=2)


@register("speaker_kfold", KFoldConfig)
def speaker_kfold(manifest: pd.DataFrame, cfg: KFoldConfig) -> list[Split]:
    """Speaker-independent k-fold: folds grouped by speaker, stratified by emotion."""
    rows, mapping, excluded = _labelled(manifest, cfg)
    if rows["speaker"].nunique() < cfg.k:
        raise ManifestError("speaker_kfold", [f"{rows['speaker'].nunique()} speakers cannot fill k={cfg.k} folds"])
    rng = np.random.default_rng(cfg.seed)
    folds = StratifiedGroupKFold(n_splits=cfg.k, shuffle=True, random_state=cfg.seed)
    splits = []
    for i, (rest_idx, test_idx) in enumerate(folds.split(rows, rows["emotion"], rows["speaker"])):
        train, val = _train_val(rows.iloc[rest_idx], cfg, rng)
        splits.append(_split("speaker_kfold", f"fold{i}", train, val, rows.iloc[test_idx], cfg, mapping, excluded))
    return splits


@register("leave_one_session_out", ProtocolConfig)
def leave_one_session_out(manifest: pd.DataFrame, cfg: ProtocolConfig) -> list[Split]:
    """IEMOCAP style: each session is the test set once; validation speakers come from the other sessions."""
    if "session" not in manifest.columns or manifest["session"].isna().any():
        raise ManifestError("leave_one_session_out", ["field 'session' is missing or empty in the manifest"])
    rows, mapping, excluded = _labelled(manifest, cfg)
    rng = np.random.default_rng(cfg.seed)
    splits = []
    for session in sorted(rows["session"].astype(str).unique()):
        is_test = rows["session"].astype(str) == session
        test = rows[is_test]
        rest = rows[~is_test & ~rows["speaker"].isin(test["speaker"])]
        train, val = _train_val(rest, cfg, rng)
        splits.append(_split("leave_one_session_out", f"session_{session}", train, val, test, cfg, mapping,
                             excluded, session=session))
    return splits


class UnseenSpeakersConfig(ProtocolConfig):
    test_fraction: float = Field(0.25, gt=0, lt=1)
    test_speakers: list[str] | None = None  # explicit held-out speakers (overrides test_fraction)


def _unseen_split(manifest: pd.DataFrame, cfg: UnseenSpeakersConfig, name: str):
    rows, mapping, excluded = _labelled(manifest, cfg)
    rng = np.random.default_rng(cfg.seed)
    if cfg.test_speakers is not None:
        unknown = sorted(set(cfg.test_speakers) - set(rows["speaker"]))
        if unknown:
            raise ConfigError(f"protocol {name!r}: test_speakers not in the manifest: {unknown}")
        held_out = sorted(cfg.test_speakers)
    else:
        held_out = _pick_speakers(rows, cfg.test_fraction, rng, at_least_one=True)
    is_test = rows["speaker"].isin(held_out)
    train, val = _train_val(rows[~is_test], cfg, rng)
    return rows, train, val, rows[is_test], mapping, excluded, held_out


@register("unseen_speakers", UnseenSpeakersConfig)
def unseen_speakers(manifest: pd.DataFrame, cfg: UnseenSpeakersConfig) -> list[Split]:
    """One held-out speaker set (per language, genders interleaved), never seen in training or validation."""
    _, train, val, test, mapping, excluded, held_out = _unseen_split(manifest, cfg, "unseen_speakers")
    return [_split("unseen_speakers", "heldout", train, val, test, cfg, mapping, excluded,
                   test_speakers=len(held_out))]


class ImbalanceConfig(UnseenSpeakersConfig):
    ratios: list[float] = Field(default_factory=lambda: [1.0, 2.0, 4.0, 8.0])


@register("imbalance", ImbalanceConfig)
def imbalance(manifest: pd.DataFrame, cfg: ImbalanceConfig) -> list[Split]:
    """Training data resampled to Neutral:other ratios; test (held-out speakers) and validation untouched.

    ratio = (number of neutral training utterances) / (number of training
    utterances of each other class). Every ratio uses the SAME emotional
    utterances (m per class, drawn once) and only the neutral count changes,
    so the curves isolate the effect of imbalance. m is the largest count that
    the rarest class and the largest ratio allow.
    """
    _, train, val, test, mapping, excluded, held_out = _unseen_split(manifest, cfg, "imbalance")
    if NEUTRAL not in cfg.labels:
        raise ConfigError("protocol 'imbalance': the label set must contain 'neutral'")
    rng = np.random.default_rng(cfg.seed + 1)
    neutral = train[train["emotion"] == NEUTRAL]
    others = {c: train[train["emotion"] == c] for c in cfg.labels if c != NEUTRAL}
    m = min(min(len(p) for p in others.values()), math.floor(len(neutral) / max(cfg.ratios)))
    if m < 1:
        raise ManifestError("imbalance", [f"too few neutral training utterances ({len(neutral)}) for ratio "
                                          f"{max(cfg.ratios)}"])
    emotional = pd.concat([p.iloc[rng.permutation(len(p))[:m]] for p in others.values()])
    neutral_order = rng.permutation(len(neutral))  # nested: a larger ratio adds neutral utterances
    splits = []
    for ratio in cfg.ratios:
        n_neutral = int(round(ratio * m))
        sample = pd.concat([neutral.iloc[neutral_order[:n_neutral]], emotional]).sort_values("utt_id")
        splits.append(_split("imbalance", f"ratio{ratio:g}", sample, val, test, cfg, mapping, excluded,
                             ratio=ratio, per_class=m, neutral=n_neutral))
    return splits


class TransferConfig(ProtocolConfig):
    test_fraction: float = Field(0.25, gt=0, lt=1)  # held-out speakers of A for the diagonal (A -> A)
    include_diagonal: bool = True


def _transfer(manifest: pd.DataFrame, cfg: TransferConfig, column: str, name: str) -> list[Split]:
    rows, mapping, excluded = _labelled(manifest, cfg)
    groups = sorted(rows[column].astype(str).unique())
    if len(groups) < 2:
        raise ManifestError(name, [f"needs at least two values of {column!r}, found {groups}"])
    rng = np.random.default_rng(cfg.seed)
    by_group = {g: rows[rows[column].astype(str) == g] for g in groups}
    heldout = {g: _pick_speakers(part, cfg.test_fraction, rng, at_least_one=True) for g, part in by_group.items()}
    splits = []
    for a in groups:
        source = by_group[a]
        diag_test = source[source["speaker"].isin(heldout[a])]
        train_a, val_a = _train_val(source[~source["speaker"].isin(heldout[a])], cfg, rng)
        for b in groups:
            if a == b and not cfg.include_diagonal:
                continue
            target = diag_test if a == b else by_group[b][~by_group[b]["speaker"].isin(set(source["speaker"]))]
            shared = set(train_a["emotion"]) & set(target["emotion"])
            labels_cfg = cfg.model_copy(update={"labels": [c for c in cfg.labels if c in shared]})
            train_k, val_k, test_k = (df[df["emotion"].isin(shared)] for df in (train_a, val_a, target))
            splits.append(_split(name, f"{a}->{b}", train_k, val_k, test_k, labels_cfg,
                                 mapping, excluded, **{f"train_{column}": a, f"test_{column}": b}))
    return splits


@register("cross_corpus", TransferConfig)
def cross_corpus(manifest: pd.DataFrame, cfg: TransferConfig) -> list[Split]:
    """Train on corpus A, test on corpus B (every ordered pair), over the labels both share."""
    return _transfer(manifest, cfg, "corpus", "cross_corpus")


@register("cross_lingual", TransferConfig)
def cross_lingual(manifest: pd.DataFrame, cfg: TransferConfig) -> list[Split]:
    """Train on language A, test on language B (every ordered pair), over the labels both share."""
    return _transfer(manifest, cfg, "language", "cross_lingual")


class PredefinedConfig(ProtocolConfig):
    train: str = "train"
    val: str = "val"
    test: str = "test"


@register("predefined_split", PredefinedConfig)
def predefined_split(manifest: pd.DataFrame, cfg: PredefinedConfig) -> list[Split]:
    """The corpus's own partition (the ``split`` column, e.g. MSP-Podcast's train/val/test1)."""
    if "split" not in manifest.columns:
        raise ManifestError("predefined_split", ["field 'split' is missing in the manifest"])
    rows, mapping, excluded = _labelled(manifest, cfg)
    part = {k: rows[rows["split"] == v] for k, v in (("train", cfg.train), ("val", cfg.val), ("test", cfg.test))}
    if part["train"].empty or part["test"].empty:
        raise ManifestError("predefined_split", [f"no rows with split == {cfg.train!r} or {cfg.test!r}"])
    independent = not (set(part["test"]["speaker"]) & (set(part["train"]["speaker"]) | set(part["val"]["speaker"])))
    return [_split("predefined_split", cfg.test, part["train"], part["val"], part["test"], cfg, mapping, excluded,
                   independent=independent)]
