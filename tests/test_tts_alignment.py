"""PocketSphinx forced alignment (benchmark.tts.alignment): the mapping onto eSpeak symbols, the boundary error,
and real alignments of embedded-corpus recordings against their true timings."""
from __future__ import annotations

import numpy as np
import pytest

from benchmark.errors import ConfigError, EmobenchError
from benchmark.tts.alignment import (AlignedWord, PocketsphinxAligner, boundary_errors_ms, map_to_symbols,
                                     pocketsphinx_spans, transcript_words)


def _word(name, phones):
    return AlignedWord(name, phones[0][1], phones[-1][2], tuple(phones))


def test_symbols_take_the_phone_boundaries_of_their_word():
    words = [_word("the", [("DH", 0.20, 0.28), ("AH", 0.28, 0.35)]),
             _word("train", [("T", 0.40, 0.49), ("R", 0.49, 0.55), ("EY", 0.55, 0.68), ("N", 0.68, 0.77)])]
    symbols = ["D", "@2", "_", "t", "r", "'eI", "n"]
    spans = map_to_symbols(words, symbols)
    assert spans[:2] == [(0.20, 0.28), (0.28, 0.35)]
    assert spans[2] == (0.35, 0.40)                       # the word boundary spans the pause between the words
    assert spans[3:] == [(0.40, 0.49), (0.49, 0.55), (0.55, 0.68), (0.68, 0.77)]


def test_unequal_phone_counts_split_at_relative_positions():
    word = _word("tomorrow", [("T", 1.0, 1.1), ("AH", 1.1, 1.2), ("M", 1.2, 1.3), ("AA", 1.3, 1.6),
                              ("R", 1.6, 1.7), ("OW", 1.7, 2.0)])
    spans = map_to_symbols([word], ["t", "@", "m", "'A:", "roU"])       # 5 eSpeak phonemes over 6 phones
    edges = [1.0, 1.1, 1.2, 1.3, 1.6, 1.7, 2.0]
    cuts = np.interp(np.linspace(0, 6, 6), np.arange(7), edges)       # independent: 6 cuts along 7 edges
    np.testing.assert_allclose(np.array(spans), np.c_[cuts[:-1], cuts[1:]], atol=1e-12)


def test_a_word_count_mismatch_maps_the_whole_utterance():
    words = [_word("at", [("AE", 0.0, 0.1), ("T", 0.1, 0.2)]), _word("seven", [("S", 0.3, 0.4), ("N", 0.4, 0.6)])]
    spans = map_to_symbols(words, ["a", "t", "s", "E", "n"])           # eSpeak made one word of two
    assert spans[0][0] == 0.0 and spans[-1][1] == 0.6 and len(spans) == 5
    assert all(a <= b for a, b in spans) and all(spans[i][1] == spans[i + 1][0] for i in range(4))


def test_boundary_error_by_hand():
    symbols = ["a", "_", "b", "c"]
    true = [(0.10, 0.20), (0.20, 0.20), (0.20, 0.30), (0.30, 0.50)]
    pred = [(0.12, 0.20), (0.20, 0.25), (0.25, 0.29), (0.29, 0.47)]
    np.testing.assert_allclose(boundary_errors_ms(pred, true, symbols), [20, 50, 10, 30], atol=1e-9)
    with pytest.raises(EmobenchError, match="different lengths: 3 predicted, 4 true"):
        boundary_errors_ms(pred[:3], true, symbols)


def test_transcript_words():
    assert transcript_words("The train's late, isn't it?") == ["the", "train's", "late", "isn't", "it"]


@pytest.fixture(scope="module")
def english(tmp_path_factory):
    from benchmark.corpora.embedded import build_corpus, make_config, read_build

    options = dict(size=12, languages="en", speakers_per_language=2, sessions_per_language=1,
                   sentences_per_language=4)
    return read_build(build_corpus(make_config(options), root=tmp_path_factory.mktemp("emb"), progress=False).path)


def test_real_alignments_are_close_to_the_true_timings(english):
    from benchmark.features import extract_features
    from benchmark.features.spectral import LogMelConfig
    from benchmark.tts.phonemes import phonemize
    from benchmark.tts.targets import espeak_scaled_spans, stored_spans

    rows = english.head(6)
    mels = extract_features(rows, LogMelConfig(), progress=False)
    sphinx, scaled = [], []
    for r in rows.itertuples():
        symbols = phonemize(r.text, r.language)
        truth = stored_spans(r.path, symbols)
        spans = pocketsphinx_spans(r.path, r.text, symbols)
        assert len(spans) == len(symbols) and all(a <= b for a, b in spans)
        sphinx.append(boundary_errors_ms(spans, truth, symbols))
        scaled.append(boundary_errors_ms(espeak_scaled_spans(r.text, r.language, mels[r.utt_id], 0.01, 35.0),
                                         truth, symbols))
    sphinx_all, scaled_all = np.concatenate(sphinx), np.concatenate(scaled)
    assert np.median(sphinx_all) < 60                    # most boundaries within a few frames of the truth
    assert np.median(sphinx_all) < np.median(scaled_all)  # and closer than eSpeak's stretched timings


def test_alignment_errors_name_the_file_and_the_word(english, tmp_path):
    path = english["path"].iloc[0]
    with pytest.raises(EmobenchError, match=r"word\(s\) \['zzxqv'\] are not in PocketSphinx's English dictionary"):
        PocketsphinxAligner().align(path, "zzxqv the train")
    with pytest.raises(ConfigError, match="English model only"):
        pocketsphinx_spans(path, "hallo", ["h"], language="de")


def test_tts_targets_from_pocketsphinx_alignment(english):
    from benchmark.tts.targets import prepare

    utts = prepare(english.head(2), alignment="pocketsphinx", progress=False)
    for u in utts:
        assert u.durations.sum() == len(u.mel) and len(u.durations) == len(u.symbols) + 2
