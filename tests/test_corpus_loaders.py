"""Real-corpus loaders on tiny fixture trees in each corpus's published layout."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import corpus_fixtures as fx
from benchmark.corpora import CORPORA, load_corpus
from benchmark.corpora.cmu_mosei import single_label
from benchmark.errors import ConfigError, ManifestError
from benchmark.manifest import validate_manifest, write_manifest

REAL_CORPORA = ("aesd", "cafe", "cmu_mosei", "crema_d", "csv", "emobox", "emodb", "emovo", "esd", "iemocap",
                "msp_podcast", "ravdess", "savee", "urdu")


def rows(df: pd.DataFrame, *cols: str) -> dict[str, tuple]:
    """utt_id -> the chosen columns, so assertions do not depend on row order."""
    return {r["utt_id"]: tuple(r[c] for c in cols) for r in df.to_dict("records")}


def reasons(report) -> dict[str, str]:
    return dict(report.skipped)


def assert_valid(df: pd.DataFrame) -> None:
    """Whatever a loader returns passes the manifest schema on its own."""
    validate_manifest(df, "reloaded", check_files=True)
    assert df["utt_id"].is_unique
    assert all(len(code) == 2 for code in df["language"])


def test_every_real_corpus_is_registered():
    assert set(REAL_CORPORA) <= set(CORPORA.names())


# ---------------------------------------------------------------------------- IEMOCAP

def test_iemocap_all_labels(tmp_path):
    df, report = load_corpus("iemocap", fx.iemocap(tmp_path))
    assert_valid(df)
    assert rows(df, "speaker", "gender", "session", "emotion", "text") == {
        "iemocap_Ses01F_impro01_F000": ("iemocap_Ses01F", "female", "Session1", "neutral", "Excuse me."),
        "iemocap_Ses01F_impro01_M000": ("iemocap_Ses01M", "male", "Session1", "excited", "Do you have your forms?"),
        "iemocap_Ses01F_impro01_F001": ("iemocap_Ses01F", "female", "Session1", "frustrated", "Yeah."),
        "iemocap_Ses02M_script01_1_F000": ("iemocap_Ses02F", "female", "Session2", "angry",
                                           "What were you thinking?"),
        "iemocap_Ses02M_script01_1_M000": ("iemocap_Ses02M", "male", "Session2", "sad", "I'm sorry."),
    }
    assert set(df["corpus"]) == {"iemocap"} and set(df["language"]) == {"en"}
    assert df["duration_s"].tolist() == pytest.approx([fx.SECONDS] * 5)
    assert df.loc[0, "path"].endswith("Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav")
    assert reasons(report) == {"iemocap_Ses01F_impro01_M001": "excluded: no majority label (xxx)"}


def test_iemocap_core4_with_excited_merged(tmp_path):
    df, report = load_corpus("iemocap", fx.iemocap(tmp_path), classes="core4", merge_excited=True)
    assert rows(df, "emotion") == {
        "iemocap_Ses01F_impro01_F000": ("neutral",), "iemocap_Ses01F_impro01_M000": ("happy",),
        "iemocap_Ses02M_script01_1_F000": ("angry",), "iemocap_Ses02M_script01_1_M000": ("sad",),
    }
    why = reasons(report)
    assert why["iemocap_Ses01F_impro01_F001"] == (
        "excluded: emotion 'frustrated' not in classes (neutral, happy, angry, sad)")
    assert why["iemocap_Ses01F_impro01_M001"] == "excluded: no majority label (xxx)"
    assert len(report) == 2


def test_iemocap_core4_without_merge_excludes_excited(tmp_path):
    df, report = load_corpus("iemocap", fx.iemocap(tmp_path), classes=["neutral", "happy", "angry", "sad"])
    assert "iemocap_Ses01F_impro01_M000" not in set(df["utt_id"])
    assert "'excited' not in classes" in reasons(report)["iemocap_Ses01F_impro01_M000"]


def test_iemocap_improvised_only_and_metadata_durations(tmp_path):
    # Options given as strings (as a command line passes them) are coerced to their types.
    df, report = load_corpus("iemocap", fx.iemocap(tmp_path), dialogs="improvised", check_files="false")
    assert set(df["session"]) == {"Session1"}
    assert reasons(report)["iemocap_Ses02M_script01_1_F000"] == "excluded: scripted dialog (dialogs='improvised')"
    # Without file checks, durations come from the EmoEvaluation timestamps.
    assert df.set_index("utt_id").loc["iemocap_Ses01F_impro01_F000", "duration_s"] == pytest.approx(8.2357 - 6.2901)


def test_iemocap_unknown_label_names_file_and_utterance(tmp_path):
    root = fx.iemocap(tmp_path)
    path = root / "Session2/dialog/EmoEvaluation/Ses02M_script01_1.txt"
    path.write_text(path.read_text().replace("\tsad\t", "\tzzz\t"))
    with pytest.raises(ManifestError) as err:
        load_corpus("iemocap", root)
    msg = str(err.value)
    assert "Session2/dialog/EmoEvaluation/Ses02M_script01_1.txt line 5" in msg
    assert "Ses02M_script01_1_M000: unknown emotion label 'zzz'" in msg


def test_iemocap_missing_wav_and_empty_transcript(tmp_path):
    root = fx.iemocap(tmp_path)
    missing = root / "Session2/sentences/wav/Ses02M_script01_1/Ses02M_script01_1_M000.wav"
    missing.unlink()
    tr = root / "Session1/dialog/transcriptions/Ses01F_impro01.txt"
    tr.write_text(tr.read_text().replace("Excuse me.", ""))
    with pytest.raises(ManifestError) as err:
        load_corpus("iemocap", root)
    assert len(err.value.problems) == 2
    msg = str(err.value)
    assert f"missing audio file {missing}" in msg
    assert "utt_id='iemocap_Ses01F_impro01_F000'" in msg and "empty transcript" in msg

    df, report = load_corpus("iemocap", root, on_error="skip")
    assert len(df) == 3
    why = reasons(report)
    [empty] = [r for e, r in why.items() if "iemocap_Ses01F_impro01_F000" in e]
    [gone] = [r for e, r in why.items() if "iemocap_Ses02M_script01_1_M000" in e]
    assert empty == "empty transcript" and "missing audio file" in gone


def test_iemocap_orphan_wav_is_reported_not_silent(tmp_path):
    root = fx.iemocap(tmp_path)
    fx.write_wav(root / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F099.wav")
    df, report = load_corpus("iemocap", root)
    assert len(df) == 5
    assert reasons(report)["Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F099.wav"] == (
        "excluded: no EmoEvaluation entry for this wav")


def test_iemocap_missing_transcript_line(tmp_path):
    root = fx.iemocap(tmp_path)
    tr = root / "Session2/dialog/transcriptions/Ses02M_script01_1.txt"
    tr.write_text(tr.read_text().splitlines()[0] + "\n")
    with pytest.raises(ManifestError, match=r"iemocap_Ses02M_script01_1_M000.*missing transcript"):
        load_corpus("iemocap", root)


# ---------------------------------------------------------------------------- MSP-Podcast

def test_msp_podcast(tmp_path):
    df, report = load_corpus("msp_podcast", fx.msp_podcast(tmp_path))
    assert_valid(df)
    assert rows(df, "speaker", "gender", "emotion", "split", "text") == {
        "msp_podcast_MSP-PODCAST_0001_0008": ("msp_podcast_127", "female", "neutral", "train",
                                              "so that's what we did"),
        "msp_podcast_MSP-PODCAST_0001_0011": ("msp_podcast_127", "female", "happy", "val", "oh that is great news"),
        "msp_podcast_MSP-PODCAST_0002_0003": ("msp_podcast_unknown", None, "angry", "test1", "stop saying that"),
    }
    assert reasons(report) == {"msp_podcast_MSP-PODCAST_0003_0001": "excluded: no consensus label (X)"}


def test_msp_podcast_unknown_class_and_empty_transcript(tmp_path):
    root = fx.msp_podcast(tmp_path)
    labels = root / "Labels/labels_consensus.csv"
    labels.write_text(labels.read_text().replace("0011.wav,H,", "0011.wav,Q,"))
    (root / "Transcripts/MSP-PODCAST_0001_0008.txt").write_text("  \n")
    with pytest.raises(ManifestError) as err:
        load_corpus("msp_podcast", root)
    msg = str(err.value)
    assert "Labels line 3 (MSP-PODCAST_0001_0011.wav): unknown emotion label 'Q'" in msg
    assert "MSP-PODCAST_0001_0008" in msg and "empty transcript" in msg
    df, _ = load_corpus("msp_podcast", root, use_transcripts=False, on_error="skip")
    assert len(df) == 2 and "text" in df and df["text"].isna().all()


# ---------------------------------------------------------------------------- CMU-MOSEI

def test_mosei_single_label_rule():
    zero = dict.fromkeys(("happy", "sad", "anger", "surprise", "disgust", "fear"), 0.0)
    assert single_label(zero) == ("neutral", "")
    assert single_label({**zero, "anger": 1.0, "sad": 0.33}) == ("angry", "")
    emotion, why = single_label({**zero, "anger": 1.0, "disgust": 1.0})
    assert emotion is None and why == "tie between anger, disgust at intensity 1"
    emotion, why = single_label({**zero, "fear": 1 / 3})
    assert emotion is None and why.startswith("weak emotion")
    assert single_label({**zero, "fear": 1 / 3}, min_intensity=0.3) == ("fear", "")


def test_cmu_mosei_cuts_segments(tmp_path):
    root = fx.cmu_mosei(tmp_path / "mosei")
    df, report = load_corpus("cmu_mosei", root, cache_dir=tmp_path / "cache")
    assert_valid(df)
    assert rows(df, "speaker", "emotion", "split", "text") == {
        "cmu_mosei_-3g5yACwYnA_0": ("cmu_mosei_-3g5yACwYnA", "neutral", "train", "i think it was okay"),
        "cmu_mosei_-3g5yACwYnA_1": ("cmu_mosei_-3g5yACwYnA", "happy", "train", "i loved it"),
        "cmu_mosei_zx4W0Vuus-I_0": ("cmu_mosei_zx4W0Vuus-I", "sad", "test", "it was really sad"),
    }
    why = reasons(report)
    assert why["cmu_mosei_-3g5yACwYnA_2"] == "excluded: tie between anger, disgust at intensity 1"
    assert why["cmu_mosei_-3g5yACwYnA_3"].startswith("excluded: weak emotion: max intensity 0.333")
    # Each segment is exactly the source slice between its timestamps.
    seg = df.set_index("utt_id").loc["cmu_mosei_-3g5yACwYnA_1"]
    assert seg["duration_s"] == pytest.approx(0.7)
    assert (seg["start_s"], seg["end_s"]) == (0.5, 1.2)
    full, sr = sf.read(seg["source_path"])
    cut, sr2 = sf.read(seg["path"])
    assert sr2 == sr and np.array_equal(cut, full[round(0.5 * sr):round(1.2 * sr)])


def test_cmu_mosei_weak_threshold_and_negative_start(tmp_path):
    df, _ = load_corpus("cmu_mosei", fx.cmu_mosei(tmp_path / "m"), cache_dir=tmp_path / "c", min_intensity=0.3)
    seg = df.set_index("utt_id").loc["cmu_mosei_-3g5yACwYnA_3"]
    assert seg["emotion"] == "surprise"
    assert seg["start_s"] == 0.0 and seg["duration_s"] == pytest.approx(0.4)  # start -0.46 clamped to 0


def test_cmu_mosei_missing_video_and_bad_intensity(tmp_path):
    root = fx.cmu_mosei(tmp_path / "m")
    (root / "Audio/Full/WAV_16000/zx4W0Vuus-I.wav").unlink()
    csv = root / "CMU_MOSEI_emotions.csv"
    csv.write_text(csv.read_text().replace("1.6666666,0.3333333", "4.5,0.3333333"))
    with pytest.raises(ManifestError) as err:
        load_corpus("cmu_mosei", root, cache_dir=tmp_path / "c")
    msg = str(err.value)
    assert "CMU_MOSEI_emotions.csv line 3 (-3g5yACwYnA_1): bad happy intensity 4.5" in msg
    assert "line 6 (zx4W0Vuus-I_0): missing audio file" in msg and "zx4W0Vuus-I.wav" in msg


def test_cmu_mosei_needs_intensity_columns(tmp_path):
    fx.write_text(tmp_path / "CMU_MOSEI_emotions.csv", "file,index,start,end,label6\n-3g5yACwYnA,0,0.0,1.0,0\n")
    with pytest.raises(ManifestError, match="missing column 'happy'"):
        load_corpus("cmu_mosei", tmp_path, cache_dir=tmp_path / "c")


# ---------------------------------------------------------------------------- acted corpora

def test_crema_d(tmp_path):
    df, report = load_corpus("crema_d", fx.crema_d(tmp_path))
    assert_valid(df)
    assert len(report) == 0
    assert rows(df, "speaker", "gender", "emotion", "text") == {
        "crema_d_1001_DFA_ANG_XX": ("crema_d_1001", "male", "angry", "Don't forget a jacket"),
        "crema_d_1001_IEO_HAP_HI": ("crema_d_1001", "male", "happy", "It's eleven o'clock"),
        "crema_d_1002_TSI_NEU_XX": ("crema_d_1002", "female", "neutral", "The surface is slick"),
        "crema_d_1002_WSI_SAD_LO": ("crema_d_1002", "female", "sad", "We'll stop in a couple of minutes"),
    }


def test_crema_d_demographics_required_unless_declined(tmp_path):
    root = fx.crema_d(tmp_path)
    (root / "VideoDemographics.csv").unlink()
    with pytest.raises(ManifestError, match="demographics=None"):
        load_corpus("crema_d", root)
    df, _ = load_corpus("crema_d", root, demographics=None)
    assert len(df) == 4 and "gender" not in df.columns


def test_ravdess(tmp_path):
    df, report = load_corpus("ravdess", fx.ravdess(tmp_path))
    assert_valid(df)
    assert rows(df, "speaker", "gender", "emotion", "text") == {
        "ravdess_03-01-05-01-02-01-12": ("ravdess_12", "female", "angry", "Dogs are sitting by the door"),
        "ravdess_03-01-01-01-01-01-12": ("ravdess_12", "female", "neutral", "Kids are talking by the door"),
        "ravdess_03-01-02-02-01-02-01": ("ravdess_01", "male", "calm", "Kids are talking by the door"),
        "ravdess_03-01-08-01-02-02-01": ("ravdess_01", "male", "surprise", "Dogs are sitting by the door"),
    }
    assert reasons(report) == {"Actor_01/03-02-03-01-01-01-01.wav": "excluded: vocal channel song "
                                                                    "(vocal_channel='speech')"}
    df_all, _ = load_corpus("ravdess", tmp_path, vocal_channel="all")
    assert len(df_all) == 5


def test_ravdess_unreadable_wav(tmp_path):
    root = fx.ravdess(tmp_path)
    bad = root / "Actor_12/03-01-05-01-02-01-12.wav"
    bad.write_bytes(b"RIFF\x00\x00not really a wav file")
    with pytest.raises(ManifestError, match=r"unreadable audio file .*Actor_12/03-01-05-01-02-01-12\.wav"):
        load_corpus("ravdess", root)
    df, report = load_corpus("ravdess", root, on_error="skip")
    assert "ravdess_03-01-05-01-02-01-12" not in set(df["utt_id"])
    [(entry, why)] = [(e, r) for e, r in report.skipped if "03-01-05-01-02-01-12" in e]
    assert "unreadable audio file" in why


def test_emodb(tmp_path):
    df, report = load_corpus("emodb", fx.emodb(tmp_path))
    assert_valid(df)
    assert set(df["language"]) == {"de"} and len(report) == 0
    assert rows(df, "speaker", "gender", "emotion", "text") == {
        "emodb_03a01Fa": ("emodb_03", "male", "happy", "Der Lappen liegt auf dem Eisschrank."),
        "emodb_03a01Nc": ("emodb_03", "male", "neutral", "Der Lappen liegt auf dem Eisschrank."),
        "emodb_08b10Wa": ("emodb_08", "female", "angry", "Die wird auf dem Platz sein, wo wir sie immer hinlegen."),
        "emodb_16a05Lb": ("emodb_16", "female", "boredom",
                          "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück."),
    }


def test_emodb_unknown_label_names_the_file_and_skip_reports_it(tmp_path):
    root = fx.emodb(tmp_path)
    fx.write_wav(root / "wav/03a01Xa.wav")
    with pytest.raises(ManifestError) as err:
        load_corpus("emodb", root)
    assert "wav/03a01Xa.wav: unknown emotion label 'X' (EmoDB codes: W, L, E, A, F, T, N)" in str(err.value)
    df, report = load_corpus("emodb", root, on_error="skip")
    assert len(df) == 4
    assert reasons(report) == {"wav/03a01Xa.wav": "unknown emotion label 'X' (EmoDB codes: W, L, E, A, F, T, N)"}


def test_emovo(tmp_path):
    df, _ = load_corpus("emovo", fx.emovo(tmp_path))
    assert_valid(df)
    assert set(df["language"]) == {"it"}
    assert rows(df, "speaker", "gender", "emotion", "text") == {
        "emovo_dis-f1-b1": ("emovo_f1", "female", "disgust", "Gli operai si alzano presto."),
        "emovo_gio-f1-l4": ("emovo_f1", "female", "happy", "Vorrei il numero telefonico del Signor Piatti."),
        "emovo_rab-m2-n5": ("emovo_m2", "male", "angry", "Uno quarantatré dieci mille cinquantasette venti."),
        "emovo_neu-m3-d2": ("emovo_m3", "male", "neutral", "Porti con te quella cosa?"),
    }


@pytest.mark.parametrize("flat", [False, True])
def test_savee_both_layouts(tmp_path, flat):
    df, _ = load_corpus("savee", fx.savee(tmp_path, flat=flat))
    assert_valid(df)
    assert "text" in df and df["text"].isna().all()
    assert rows(df, "speaker", "gender", "emotion") == {
        "savee_DC_a01": ("savee_DC", "male", "angry"), "savee_DC_n30": ("savee_DC", "male", "neutral"),
        "savee_JK_sa03": ("savee_JK", "male", "sad"), "savee_KL_su15": ("savee_KL", "male", "surprise"),
    }


def test_savee_duplicate_ids_across_layouts(tmp_path):
    fx.savee(tmp_path)
    fx.savee(tmp_path, flat=True)
    with pytest.raises(ManifestError) as err:
        load_corpus("savee", tmp_path)
    # one problem per later copy, naming both files
    assert len(err.value.problems) == 4
    assert ("AudioData/DC/a01.wav: duplicate utt_id 'savee_DC_a01': the same audio as DC_a01.wav"
            in str(err.value))
    # skipping keeps the first copy of each (walking order: the flat files at the root come first)
    df, report = load_corpus("savee", tmp_path, on_error="skip")
    assert len(df) == 4 and all(Path(p).parent == tmp_path for p in df["path"])
    assert sorted(e for e, _ in report.skipped) == ["AudioData/DC/a01.wav", "AudioData/DC/n30.wav",
                                                     "AudioData/JK/sa03.wav", "AudioData/KL/su15.wav"]


def test_cafe(tmp_path):
    df, _ = load_corpus("cafe", fx.cafe(tmp_path))
    assert_valid(df)
    assert set(df["language"]) == {"fr"}
    assert rows(df, "speaker", "gender", "emotion", "text") == {
        "cafe_01-C-1-1": ("cafe_01", "male", "angry", "Un cheval fou dans mon jardin"),
        "cafe_01-C-2-1": ("cafe_01", "male", "angry", "Un cheval fou dans mon jardin"),
        "cafe_02-N-1-4": ("cafe_02", "female", "neutral", "Quatre vieilles truies éléphantesques"),
        "cafe_12-J-2-6": ("cafe_12", "female", "happy", "Six ours aimants domestiqués"),
    }


def test_urdu(tmp_path):
    df, _ = load_corpus("urdu", fx.urdu(tmp_path))
    assert_valid(df)
    assert set(df["language"]) == {"ur"}
    assert rows(df, "speaker", "gender", "emotion") == {
        "urdu_SM1_F1_A01": ("urdu_SM1", "male", "angry"), "urdu_SF6_F12_H012": ("urdu_SF6", "female", "happy"),
        "urdu_SM20_F8_N012": ("urdu_SM20", "male", "neutral"), "urdu_SM6_F4_S0100": ("urdu_SM6", "male", "sad"),
    }


def test_urdu_label_disagreeing_with_folder(tmp_path):
    root = fx.urdu(tmp_path)
    fx.write_wav(root / "Happy/SM2_F3_A07.wav")
    with pytest.raises(ManifestError, match=r"Happy/SM2_F3_A07\.wav: emotion letter 'A' disagrees with folder"):
        load_corpus("urdu", root)


def test_aesd(tmp_path):
    df, _ = load_corpus("aesd", fx.aesd(tmp_path))
    assert_valid(df)
    assert set(df["language"]) == {"el"} and "gender" not in df.columns
    assert rows(df, "speaker", "emotion") == {
        "aesd_a01_1": ("aesd_1", "angry"), "aesd_a06_5b": ("aesd_5", "angry"), "aesd_f10_01": ("aesd_1", "fear"),
        "aesd_s02_3": ("aesd_3", "sad"), "aesd_h11_2": ("aesd_2", "happy"),
    }
    assert "neutral" not in set(df["emotion"])


@pytest.mark.parametrize("split_folders", [False, True])
def test_esd(tmp_path, split_folders):
    df, report = load_corpus("esd", fx.esd(tmp_path, split_folders=split_folders))
    assert_valid(df)
    assert len(report) == 0
    assert rows(df, "speaker", "gender", "language", "emotion", "text") == {
        "esd_0001_000001": ("esd_0001", "female", "zh", "neutral", "打远一看，它们的确很是美丽，"),
        "esd_0001_000351": ("esd_0001", "female", "zh", "angry", "打远一看，它们的确很是美丽，"),
        "esd_0011_000001": ("esd_0011", "male", "en", "neutral", "The nine the eggs, I keep."),
        "esd_0011_001401": ("esd_0011", "male", "en", "surprise", "The nine the eggs, I keep."),
    }
    if split_folders:
        assert rows(df, "split") == {"esd_0001_000001": ("train",), "esd_0001_000351": ("test",),
                                     "esd_0011_000001": ("train",), "esd_0011_001401": ("test",)}
    else:
        assert "split" not in df.columns


def test_esd_missing_wav_empty_text_and_gb18030(tmp_path):
    root = fx.esd(tmp_path)
    (root / "0011/Surprise/0011_001401.wav").unlink()
    older_copy = "0001_000001\t\t中立\n0001_000351\t打远一看\t生气\n"
    fx.write_text(root / "0001/0001.txt", older_copy, encoding="gb18030")
    with pytest.raises(ManifestError) as err:
        load_corpus("esd", root)
    msg = str(err.value)
    assert "utt_id='esd_0001_000001'" in msg and "empty transcript" in msg
    assert "missing audio file" in msg and "0011/Surprise/0011_001401.wav" in msg
    df, report = load_corpus("esd", root, on_error="skip")
    assert rows(df, "text") == {"esd_0001_000351": ("打远一看",),
                                "esd_0011_000001": ("The nine the eggs, I keep.",)}
    assert len(report) == 2


# ---------------------------------------------------------------------------- generic formats

def test_emobox_matches_native_cafe_loader(tmp_path):
    fx.emobox(tmp_path)
    df, _ = load_corpus("emobox", tmp_path / "data" / "cafe")
    assert_valid(df)
    assert rows(df, "corpus", "speaker", "language", "emotion") == {
        "cafe_01-C-1-1": ("cafe", "cafe_01", "fr", "angry"),
        "cafe_02-N-1-4": ("cafe", "cafe_02", "fr", "neutral"),
        "cafe_12-J-2-6": ("cafe", "cafe_12", "fr", "happy"),
    }
    native, _ = load_corpus("cafe", tmp_path / "downloads" / "cafe" / "CaFE_48k")
    # Same utterances -> same ids, speakers and labels from either route.
    assert rows(native, "speaker", "emotion") == rows(df, "speaker", "emotion")


def test_emobox_fold_and_unknown_label(tmp_path):
    fx.emobox(tmp_path)
    df, _ = load_corpus("emobox", tmp_path / "data" / "cafe", fold=1)
    assert rows(df, "split") == {"cafe_01-C-1-1": ("train",), "cafe_02-N-1-4": ("train",),
                                 "cafe_12-J-2-6": ("test",)}
    jsonl = tmp_path / "data/cafe/cafe.jsonl"
    jsonl.write_text(jsonl.read_text().replace('"emo": "j"', '"emo": "q"'))
    with pytest.raises(ManifestError, match=r"cafe\.jsonl line 3 \(cafe-12-J-2-6\): unknown emotion label 'q'"):
        load_corpus("emobox", tmp_path / "data" / "cafe")


def test_emobox_no_agreement_is_excluded_and_speaker_from_line(tmp_path):
    fx.emobox(tmp_path)
    data = tmp_path / "data/cafe"
    (data / "label_map.json").write_text('{"c": "Angry", "n": "No-agreement", "j": "Happy"}')
    (data / "data.seg.wrd.stm").unlink()
    jsonl = data / "cafe.jsonl"
    jsonl.write_text(jsonl.read_text().replace('"channel": 1}', '"channel": 1, "spk": "A"}'))
    df, report = load_corpus("emobox", data, language="fr")
    assert rows(df, "speaker", "emotion") == {"cafe_01-C-1-1": ("cafe_A", "angry"),
                                              "cafe_12-J-2-6": ("cafe_A", "happy")}
    assert reasons(report) == {"cafe_02-N-1-4": "excluded: no agreed label ('n' -> 'No-agreement')"}


def test_csv_manifest(tmp_path):
    df, _ = load_corpus("csv", fx.csv_manifest(tmp_path) / "mycorpus.csv")
    assert_valid(df)
    assert rows(df, "corpus", "speaker", "language", "emotion", "text", "gender", "split") == {
        "mycorpus_u1": ("mycorpus", "mycorpus_s1", "de", "angry", "Guten Morgen", "female", "train"),
        "mycorpus_u2": ("mycorpus", "mycorpus_s2", "de", "neutral", None, "male", "test"),
    }
    assert df.set_index("utt_id")["path"].to_dict() == {
        "mycorpus_u1": str(tmp_path / "audio/u1.wav"), "mycorpus_u2": str(tmp_path / "audio/u2.wav")}
    assert df["duration_s"].tolist() == pytest.approx([0.2, 0.5])


def test_csv_manifest_round_trip(tmp_path):
    original, _ = load_corpus("emodb", fx.emodb(tmp_path / "emodb"))
    write_manifest(original, tmp_path / "emodb.csv")
    again, _ = load_corpus("csv", tmp_path / "emodb.csv")
    cols = ["utt_id", "path", "corpus", "language", "speaker", "emotion", "text", "gender"]
    pd.testing.assert_frame_equal(again[cols], original[cols])
    assert again["duration_s"].tolist() == pytest.approx(original["duration_s"].tolist())


def test_csv_manifest_errors_name_the_row(tmp_path):
    root = fx.csv_manifest(tmp_path)
    fx.write_text(root / "bad.csv", "utt_id,path,speaker,emotion,language\nu1,audio/u1.wav,s1,grumpy,de\n"
                                    "u2,audio/missing.wav,s2,sad,de\nu1,audio/u2.wav,s3,sad,de\n"
                                    "u3,audio/u2.wav,s3,happy,de\n")
    with pytest.raises(ManifestError) as err:
        load_corpus("csv", root / "bad.csv")
    msg = str(err.value)
    assert "bad.csv line 2 (u1): unknown emotion label 'grumpy'" in msg
    assert "missing audio file" in msg and "missing.wav" in msg
    df, report = load_corpus("csv", root / "bad.csv", on_error="skip", label_map={"grumpy": "angry"})
    # With the code mapped, u1 appears twice: both copies are reported as duplicates, never merged.
    assert df["utt_id"].tolist() == ["bad_u3"]
    why = sorted(r for _, r in report.skipped)
    assert why[1:] == ["duplicate utt_id 'bad_u1'"] * 2
    assert why[0].startswith("bad duration_s nan") and "missing audio file" in why[0]


# ---------------------------------------------------------------------------- options

def test_bad_options_are_config_errors(tmp_path):
    root = fx.emodb(tmp_path)
    with pytest.raises(ConfigError, match="unknown option.*'clases'.*known options: on_error"):
        load_corpus("emodb", root, clases="core4")
    with pytest.raises(ConfigError, match="on_error"):
        load_corpus("emodb", root, on_error="ignore")
    with pytest.raises(ConfigError, match="classes"):
        load_corpus("emodb", root, classes=["happiness"])
    with pytest.raises(ConfigError, match="option 'vocal_channel'.*got 'both'"):
        load_corpus("ravdess", root, vocal_channel="both")
    with pytest.raises(ConfigError, match="option 'check_files'.*got 'maybe'"):
        load_corpus("emodb", root, check_files="maybe")
    with pytest.raises(ConfigError, match="root"):
        load_corpus("emodb", None)
    with pytest.raises(ConfigError, match="not a directory"):
        load_corpus("emodb", tmp_path / "nowhere")


def test_empty_root_is_an_error_not_an_empty_manifest(tmp_path):
    with pytest.raises(ManifestError, match="no utterances found"):
        load_corpus("ravdess", tmp_path)


def test_classes_filter_works_for_every_loader(tmp_path):
    df, report = load_corpus("emodb", fx.emodb(tmp_path), classes="neutral,happy")
    assert sorted(df["emotion"]) == ["happy", "neutral"]
    assert sorted(r for _, r in report.skipped) == [
        "excluded: emotion 'angry' not in classes (neutral, happy)",
        "excluded: emotion 'boredom' not in classes (neutral, happy)",
    ]


# ---------------------------------------------------------------------------- robustness (issue 19)

def test_crema_d_accepts_the_pre_2022_level_x(tmp_path):
    root = fx.crema_d(tmp_path)
    fx.write_wav(root / "AudioWAV" / "1001_ITH_SAD_X.wav")
    df, report = load_corpus("crema_d", root)
    assert rows(df, "emotion", "text")["crema_d_1001_ITH_SAD_X"] == ("sad", "I think I have a doctor's appointment")
    assert len(report) == 0
    fx.write_wav(root / "AudioWAV" / "1001_ITH_SAD_Q.wav")
    with pytest.raises(ManifestError, match=r"1001_ITH_SAD_Q\.wav: unknown level 'Q'"):
        load_corpus("crema_d", root)


def test_ravdess_tree_holding_every_file_twice(tmp_path):
    """Actor_NN/ beside audio_speech_actors_01-24/Actor_NN/ (two unpacked copies of the same zip)."""
    fx.ravdess(tmp_path)
    for wav in sorted(tmp_path.glob("Actor_*/*.wav")):
        copy = tmp_path / "audio_speech_actors_01-24" / wav.parent.name / wav.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(wav.read_bytes())
    with pytest.raises(ManifestError) as err:
        load_corpus("ravdess", tmp_path)
    assert len(err.value.problems) == 4  # the four speech files' second copies (the song file is excluded)
    assert ("audio_speech_actors_01-24/Actor_12/03-01-05-01-02-01-12.wav: duplicate utt_id "
            "'ravdess_03-01-05-01-02-01-12': the same audio as Actor_12/03-01-05-01-02-01-12.wav") in str(err.value)
    df, report = load_corpus("ravdess", tmp_path, on_error="skip")
    once, _ = load_corpus("ravdess", fx.ravdess(tmp_path / "once"))
    assert sorted(df["utt_id"]) == sorted(once["utt_id"])  # one copy of each, not none
    assert all("audio_speech_actors" not in p for p in df["path"])
    copies = [e for e, r in report.skipped if r.startswith("duplicate utt_id")]
    assert len(copies) == 4 and all(e.startswith("audio_speech_actors_01-24/") for e in copies)


def test_two_different_files_under_one_id_are_both_reported(tmp_path):
    root = fx.savee(tmp_path)
    fx.write_wav(root / "DC_a01.wav", freq=440.0)  # same id as AudioData/DC/a01.wav, other audio
    df, report = load_corpus("savee", root, on_error="skip")
    assert "savee_DC_a01" not in set(df["utt_id"])
    assert sorted(e for e, r in report.skipped if "duplicate utt_id 'savee_DC_a01'" in r) == [
        "utt_id='savee_DC_a01', path=" + repr(str(root / p)) for p in ("AudioData/DC/a01.wav", "DC_a01.wav")]


def _emobox_emovdb(root: Path) -> Path:
    """An EmoBox folder of EmoV-DB, whose label map has classes emobench has no name for."""
    data = root / "data" / "emovdb"
    items = [("emovdb-bea-amused-1", "a"), ("emovdb-bea-angry-1", "an"), ("emovdb-sam-neutral-1", "n"),
             ("emovdb-sam-sleepy-1", "s")]
    lines = []
    for key, emo in items:
        wav = f"downloads/emovdb/{key}.wav"
        fx.write_wav(root / wav)
        lines.append(json.dumps({"key": key, "dataset": "emovdb", "wav": wav, "emo": emo, "length": fx.SECONDS,
                                 "spk": key.split("-")[1]}))
    fx.write_text(data / "emovdb.jsonl", "\n".join(lines) + "\n")
    fx.write_text(data / "label_map.json", json.dumps({"a": "Amused", "an": "Angry", "n": "Neutral", "s": "Sleepy",
                                                       "d": "Disgust"}))
    fx.write_text(data / "corpus.cfg", "[Corpus]\nname = emovdb\nlanguage = english\n")
    return data


def test_emobox_label_without_an_emobench_name_is_excluded_by_classes(tmp_path):
    data = _emobox_emovdb(tmp_path)
    with pytest.raises(ManifestError, match=r"emovdb\.jsonl line 1 \(emovdb-bea-amused-1\): unknown emotion label "
                                            r"'a' -> 'Amused'.*pass classes="):
        load_corpus("emobox", data)
    df, report = load_corpus("emobox", data, classes="core4")
    assert rows(df, "emotion") == {"emovdb_bea-angry-1": ("angry",), "emovdb_sam-neutral-1": ("neutral",)}
    assert reasons(report) == {
        "emovdb_bea-amused-1": "excluded: label 'Amused' has no emobench name and is not in classes "
                               "(neutral, happy, angry, sad)",
        "emovdb_sam-sleepy-1": "excluded: label 'Sleepy' has no emobench name and is not in classes "
                               "(neutral, happy, angry, sad)",
    }
    # a code the corpus's own label map does not define is still bad data, classes or not
    jsonl = data / "emovdb.jsonl"
    jsonl.write_text(jsonl.read_text().replace('"emo": "n"', '"emo": "zz"'))
    with pytest.raises(ManifestError, match=r"line 3 \(emovdb-sam-neutral-1\): unknown emotion label 'zz'"):
        load_corpus("emobox", data, classes="core4")


def _emobox_esd(root: Path) -> Path:
    """EmoBox's ESD: corpus.cfg says 'language = mix', the stm tags every line lang=en."""
    data = root / "data" / "esd"
    keys = ["esd-0001-000001", "esd-0001-000351", "esd-0011-000001", "esd-0011-001401"]
    emos = ["Neutral", "Angry", "Neutral", "Surprise"]
    lines = []
    for key, emo in zip(keys, emos):
        spk, num = key.split("-")[1:]
        wav = f"downloads/esd/{spk}/{emo}/{spk}_{num}.wav"
        fx.write_wav(tmp := root / wav)
        assert tmp.is_file()
        lines.append(json.dumps({"key": key, "dataset": "esd", "wav": wav, "length": fx.SECONDS, "emo": emo}))
    fx.write_text(data / "esd.jsonl", "\n".join(lines) + "\n")
    fx.write_text(data / "data.seg.wrd.stm", "".join(
        f"{k} 1 {k.split('-')[1]} 0 {fx.SECONDS} <id={k},lang=en,spk={k.split('-')[1]},emotion={e}> {e}\n"
        for k, e in zip(keys, emos)))
    fx.write_text(data / "corpus.cfg", "[Corpus]\nname = esd\nlanguage = mix # chinese and english\nbase = data/esd\n")
    return data


def test_emobox_esd_takes_the_language_per_speaker(tmp_path):
    df, _ = load_corpus("emobox", _emobox_esd(tmp_path))
    assert rows(df, "speaker", "language") == {
        "esd_0001-000001": ("esd_0001", "zh"), "esd_0001-000351": ("esd_0001", "zh"),
        "esd_0011-000001": ("esd_0011", "en"), "esd_0011-001401": ("esd_0011", "en")}
    # the same answer as the native ESD loader gives its speakers
    native, _ = load_corpus("esd", fx.esd(tmp_path / "native"))
    assert set(zip(native["speaker"], native["language"])) == set(zip(df["speaker"], df["language"]))


def test_emobox_mixed_language_without_a_rule_needs_a_speaker_mapping(tmp_path):
    data = _emobox_esd(tmp_path)
    jsonl = data / "esd.jsonl"
    jsonl.write_text(jsonl.read_text().replace('"dataset": "esd"', '"dataset": "mixcorp"'))
    with pytest.raises(ManifestError, match=r"no language for speaker '0001': corpus.cfg says the corpus mixes "
                                            r"languages.*language=\{speaker: code\}"):
        load_corpus("emobox", data)
    df, _ = load_corpus("emobox", data, language={"0001": "zh", "0011": "en"})
    assert dict(zip(df["speaker"], df["language"])) == {"mixcorp_0001": "zh", "mixcorp_0011": "en"}
    with pytest.raises(ConfigError, match=r"language: unknown language\(s\) \['klingon'\]"):
        load_corpus("emobox", data, language={"0001": "klingon"})


@pytest.mark.parametrize("line, fields", [("u3,audio/u1.wav,s1,sad,de,a text, with a comma,F,train", 9),
                                          ("u3,audio/u1.wav", 2)])
def test_csv_row_with_the_wrong_number_of_fields(tmp_path, line, fields):
    root = fx.csv_manifest(tmp_path)
    csv_path = root / "mycorpus.csv"
    csv_path.write_text(csv_path.read_text() + line + "\n")
    with pytest.raises(ManifestError) as err:
        load_corpus("csv", csv_path)
    assert str(err.value).startswith(f"mycorpus corpus at {root}: 1 problem(s):")
    assert err.value.problems == [f"mycorpus.csv line 4: {fields} fields where the header has 8 "
                                  f"({'an unquoted comma in a cell?' if fields > 8 else 'cells missing'})"]
    df, report = load_corpus("csv", csv_path, on_error="skip")
    assert sorted(df["utt_id"]) == ["mycorpus_u1", "mycorpus_u2"]
    assert [e for e, _ in report.skipped] == ["mycorpus.csv line 4"]


def test_csv_lines_are_file_lines_across_blank_lines_and_quoted_newlines(tmp_path):
    root = fx.csv_manifest(tmp_path)
    fx.write_text(root / "m.csv", 'utt_id,path,speaker,emotion,language,text\n\n'
                                  'u1,audio/u1.wav,s1,sad,de,"two\nlines"\n'
                                  'u2,audio/u2.wav,s2,grumpy,de,x\n')
    with pytest.raises(ManifestError, match=r"m\.csv line 5 \(u2\): unknown emotion label 'grumpy'"):
        load_corpus("csv", root / "m.csv")


@pytest.mark.parametrize("content, message", [
    (b"", "empty file: no header line"),
    (b"utt_id,path,path\nu1,a.wav,b.wav\n", "line 1: repeated column name(s) ['path'] in the header"),
    (b"utt_id,path\n\xff\xfe,x\n", "line 2: not UTF-8 text"),
])
def test_unreadable_csv_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "m.csv"
    path.write_bytes(content)
    with pytest.raises(ManifestError) as err:
        load_corpus("csv", path, language="en")
    assert str(err.value).startswith(f"{path}: 1 problem(s):") and message in str(err.value)


def test_truncated_and_empty_wavs_are_named_by_the_loader(tmp_path):
    root = fx.emodb(tmp_path)
    cut = root / "wav" / "03a01Fa.wav"
    cut.write_bytes(cut.read_bytes()[:1000])  # header intact, most of the samples gone
    (root / "wav" / "03a01Nc.wav").write_bytes(b"")
    with pytest.raises(ManifestError) as err:
        load_corpus("emodb", root)
    msg = str(err.value)
    assert (f"truncated audio file {cut} (the header declares {int(fx.SECONDS * fx.SR) * 2} bytes of sample data, "
            f"the file holds 956)") in msg
    assert f"empty audio file {root / 'wav' / '03a01Nc.wav'} (0 bytes)" in msg
    df, report = load_corpus("emodb", root, on_error="skip")
    assert sorted(df["utt_id"]) == ["emodb_08b10Wa", "emodb_16a05Lb"]
    assert len(report) == 2
