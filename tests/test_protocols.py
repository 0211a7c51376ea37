"""Protocols: speaker disjointness, coverage, exact imbalance ratios, determinism, config errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.errors import ConfigError, ManifestError
from benchmark.protocols import PROTOCOLS, make_splits


def _manifest(n_lang: int = 2, speakers: int = 6, per_speaker: int = 24, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    emotions = ["neutral"] * 3 + ["happy", "angry", "sad"]  # neutral-heavy, as in real corpora
    rows = []
    for lang in ["en", "de", "zh"][:n_lang]:
        for s in range(speakers):
            for u in range(per_speaker):
                rows.append({"utt_id": f"{lang}_{s}_{u}", "path": f"/x/{lang}_{s}_{u}.wav", "corpus": f"c{s % 2}",
                             "language": lang, "speaker": f"{lang}_spk{s}", "emotion": emotions[rng.integers(6)],
                             "text": None, "duration_s": 1.0, "gender": ["female", "male"][s % 2],
                             "session": f"S{s % 3}"})
    rows[0]["emotion"] = "fear"  # outside the 4-class set: excluded, and counted
    return pd.DataFrame(rows)


def _speakers(m: pd.DataFrame, ids) -> set[str]:
    return set(m.set_index("utt_id").loc[list(ids), "speaker"])


@pytest.mark.parametrize("name, config", [("speaker_kfold", {"k": 4}), ("leave_one_session_out", {}),
                                          ("unseen_speakers", {}), ("imbalance", {"ratios": [1, 2]}),
                                          ("cross_lingual", {}), ("cross_corpus", {})])
def test_speaker_disjoint_and_validation_from_training_speakers(name, config):
    m = _manifest()
    splits = make_splits(m, name, **config)
    assert splits
    for s in splits:
        assert s.speaker_independent
        test = _speakers(m, s.test_ids)
        assert not test & _speakers(m, s.train_ids) and not test & _speakers(m, s.val_ids)
        assert s.val_ids and not set(s.val_ids) & set(s.train_ids)
        assert "fear" not in s.labels and s.meta["excluded"] == 1


def test_kfold_tests_every_labelled_utterance_once_and_stratifies():
    m = _manifest(speakers=8)
    splits = make_splits(m, "speaker_kfold", k=4)
    tested = [u for s in splits for u in s.test_ids]
    assert sorted(tested) == sorted(m.loc[m["emotion"] != "fear", "utt_id"])
    overall = m["emotion"].value_counts(normalize=True)
    for s in splits:
        share = m.set_index("utt_id").loc[list(s.test_ids), "emotion"].value_counts(normalize=True)
        assert abs(share["neutral"] - overall["neutral"]) < 0.15


def test_imbalance_ratios_are_exact_and_test_sets_identical():
    m = _manifest(speakers=8, per_speaker=40)
    splits = make_splits(m, "imbalance", ratios=[1, 2, 4])
    emo = m.set_index("utt_id")["emotion"]
    assert len({s.test_ids for s in splits}) == 1 and len({s.val_ids for s in splits}) == 1
    emotional = None
    for s, ratio in zip(splits, [1, 2, 4]):
        counts = emo.loc[list(s.train_ids)].value_counts()
        others = counts.drop("neutral")
        assert others.nunique() == 1 and counts["neutral"] == ratio * others.iloc[0]
        ids = {u for u in s.train_ids if emo[u] != "neutral"}
        emotional = emotional or ids
        assert ids == emotional  # the same emotional utterances at every ratio


def test_cross_lingual_covers_every_ordered_pair():
    m = _manifest(n_lang=3)
    splits = make_splits(m, "cross_lingual")
    pairs = {(s.meta["train_language"], s.meta["test_language"]) for s in splits}
    assert pairs == {(a, b) for a in ["de", "en", "zh"] for b in ["de", "en", "zh"]}
    for s in splits:
        assert set(m.set_index("utt_id").loc[list(s.test_ids), "language"]) == {s.meta["test_language"]}


def test_splits_are_deterministic_for_a_seed():
    m = _manifest()
    assert make_splits(m, "speaker_kfold", k=3, seed=1) == make_splits(m, "speaker_kfold", k=3, seed=1)
    assert make_splits(m, "unseen_speakers", seed=1) != make_splits(m, "unseen_speakers", seed=2)


def test_bad_config_and_missing_fields_are_named():
    m = _manifest()
    with pytest.raises(ConfigError, match="kk"):
        make_splits(m, "speaker_kfold", kk=3)
    with pytest.raises(ConfigError, match="unknown protocol"):
        make_splits(m, "leave_one_out")
    with pytest.raises(ManifestError, match="session"):
        make_splits(m.drop(columns="session"), "leave_one_session_out")
    with pytest.raises(ConfigError, match="test_speakers"):
        make_splits(m, "unseen_speakers", test_speakers=["nobody"])


def test_registry_lists_the_protocols():
    assert {"speaker_kfold", "leave_one_session_out", "unseen_speakers", "imbalance", "cross_corpus",
            "cross_lingual", "predefined_split"} <= set(PROTOCOLS.names())


def test_split_digest_is_of_its_content_and_survives_caching_and_pickling():
    import hashlib
    import json
    import pickle
    from dataclasses import asdict, replace

    split = make_splits(_manifest(), "speaker_kfold", k=4)[0]
    fresh = hashlib.sha256(json.dumps(asdict(split), sort_keys=True, default=list).encode()).hexdigest()[:16]
    assert split.digest() == fresh == split.digest()          # computed once, the same value after
    assert pickle.loads(pickle.dumps(split)).digest() == fresh   # a worker's copy keys the same cell
    assert split == replace(split)                            # the cache is not part of the Split's identity
    moved = replace(split, test_ids=split.test_ids[1:])       # a different split: a different digest
    assert moved.digest() != fresh
    assert "_digest" not in asdict(split) and "_digest" not in repr(split)
