"""Tiny corpus trees in each corpus's real file naming and metadata conventions.

Every builder writes short (0.2 s, 16 kHz) real wav files with soundfile under
``root`` and returns ``root``; tests load them with the real loaders.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000
SECONDS = 0.2


def write_wav(path: Path, seconds: float = SECONDS, sr: int = SR, freq: float = 220.0) -> Path:
    """A short sine tone, so every file is real, readable, non-silent audio."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(str(path), 0.1 * np.sin(2 * np.pi * freq * t), sr, subtype="PCM_16")
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


def iemocap(root: Path) -> Path:
    """Session1 (one improvised dialog) and Session2 (one scripted dialog)."""
    s1 = root / "Session1"
    write_text(s1 / "dialog/EmoEvaluation/Ses01F_impro01.txt", (
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "C-E2:\tNeutral;\t()\nC-E3:\tNeutral;\t()\nA-E3:\tval 3; act 2; dom  2;\t()\n\n"
        "[10.0100 - 11.3925]\tSes01F_impro01_M000\texc\t[3.5000, 3.0000, 3.0000]\n"
        "C-E2:\tExcited;\t()\n\n"
        "[14.8872 - 18.0175]\tSes01F_impro01_F001\tfru\t[2.0000, 3.5000, 3.5000]\n\n"
        "[19.2900 - 20.7875]\tSes01F_impro01_M001\txxx\t[2.5000, 2.5000, 2.5000]\n"
    ))
    write_text(s1 / "dialog/transcriptions/Ses01F_impro01.txt", (
        "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\n"
        "Ses01F_impro01_M000 [010.0100-011.3925]: Do you have your forms?\n"
        "Ses01F_impro01_F001 [014.8872-018.0175]: Yeah.\n"
        "Ses01F_impro01_M001 [019.2900-020.7875]: Let me see them.\n"
    ))
    for utt in ("F000", "M000", "F001", "M001"):
        write_wav(s1 / f"sentences/wav/Ses01F_impro01/Ses01F_impro01_{utt}.wav")
    s2 = root / "Session2"
    write_text(s2 / "dialog/EmoEvaluation/Ses02M_script01_1.txt", (
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[1.0000 - 2.5000]\tSes02M_script01_1_F000\tang\t[1.5000, 4.0000, 4.0000]\n\n"
        "[3.0000 - 4.0000]\tSes02M_script01_1_M000\tsad\t[1.5000, 2.0000, 2.0000]\n"
    ))
    write_text(s2 / "dialog/transcriptions/Ses02M_script01_1.txt", (
        "Ses02M_script01_1_F000 [001.0000-002.5000]: What were you thinking?\n"
        "Ses02M_script01_1_M000 [003.0000-004.0000]: I'm sorry.\n"
    ))
    for utt in ("F000", "M000"):
        write_wav(s2 / f"sentences/wav/Ses02M_script01_1/Ses02M_script01_1_{utt}.wav")
    return root


def msp_podcast(root: Path) -> Path:
    rows = [
        ("MSP-PODCAST_0001_0008.wav", "N", "3.0", "4.2", "4.0", "127", "Female", "Train"),
        ("MSP-PODCAST_0001_0011.wav", "H", "5.2", "5.4", "4.6", "127", "Female", "Development"),
        ("MSP-PODCAST_0002_0003.wav", "A", "6.0", "2.0", "5.8", "Unknown", "Unknown", "Test1"),
        ("MSP-PODCAST_0003_0001.wav", "X", "4.0", "4.0", "4.0", "88", "Male", "Test2"),
    ]
    header = "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
    write_text(root / "Labels/labels_consensus.csv", header + "".join(",".join(r) + "\n" for r in rows))
    texts = ["so that's what we did", "oh that is great news", "stop saying that", "i don't know"]
    for row, text in zip(rows, texts):
        write_wav(root / "Audios" / row[0])
        write_text(root / "Transcripts" / row[0].replace(".wav", ".txt"), text + "\n")
    return root


MOSEI_HEADER = "video_id,segment_id,start,end,happy,sad,anger,surprise,disgust,fear,text,split\n"


def cmu_mosei(root: Path) -> Path:
    rows = [
        "-3g5yACwYnA,0,0.0,0.5,0.0,0.0,0.0,0.0,0.0,0.0,i think it was okay,train",        # all zero: neutral
        "-3g5yACwYnA,1,0.5,1.2,1.6666666,0.3333333,0.0,0.0,0.0,0.0,i loved it,train",     # happy
        "-3g5yACwYnA,2,1.2,1.8,0.0,0.0,1.0,0.0,1.0,0.0,that made me so mad,train",        # tie anger/disgust
        "-3g5yACwYnA,3,-0.4576,0.4,0.0,0.0,0.0,0.3333333,0.0,0.0,well,train",             # weak surprise
        "zx4W0Vuus-I,0,0.25,1.0,0.0,2.0,0.0,0.0,0.0,0.6666667,it was really sad,test",     # sad
    ]
    write_text(root / "CMU_MOSEI_emotions.csv", MOSEI_HEADER + "\n".join(rows) + "\n")
    write_wav(root / "Audio/Full/WAV_16000/-3g5yACwYnA.wav", seconds=2.0)
    write_wav(root / "Audio/Full/WAV_16000/zx4W0Vuus-I.wav", seconds=1.0)
    return root


def crema_d(root: Path) -> Path:
    for name in ("1001_DFA_ANG_XX", "1001_IEO_HAP_HI", "1002_TSI_NEU_XX", "1002_WSI_SAD_LO"):
        write_wav(root / "AudioWAV" / f"{name}.wav")
    write_text(root / "VideoDemographics.csv", (
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
        "1002,21,Female,Caucasian,Not Hispanic\n"
    ))
    return root


def ravdess(root: Path) -> Path:
    for name in ("03-01-05-01-02-01-12", "03-01-01-01-01-01-12", "03-01-02-02-01-02-01", "03-01-08-01-02-02-01"):
        write_wav(root / f"Actor_{name[-2:]}" / f"{name}.wav")
    write_wav(root / "Actor_01" / "03-02-03-01-01-01-01.wav")  # song: excluded by default
    return root


def emodb(root: Path) -> Path:
    for name in ("03a01Fa", "03a01Nc", "08b10Wa", "16a05Lb"):
        write_wav(root / "wav" / f"{name}.wav")
    write_text(root / "erkennung.txt", "not read\n")
    return root


def emovo(root: Path) -> Path:
    for name in ("f1/dis-f1-b1", "f1/gio-f1-l4", "m2/rab-m2-n5", "m3/neu-m3-d2"):
        write_wav(root / f"{name}.wav")
    return root


def savee(root: Path, flat: bool = False) -> Path:
    names = (("DC", "a01"), ("DC", "n30"), ("JK", "sa03"), ("KL", "su15"))
    for spk, code in names:
        write_wav(root / f"{spk}_{code}.wav" if flat else root / "AudioData" / spk / f"{code}.wav")
    return root


def cafe(root: Path) -> Path:
    for name in ("Colère/Faible/01-C-1-1", "Colère/Fort/01-C-2-1", "Neutre/02-N-1-4", "Joie/Fort/12-J-2-6"):
        write_wav(root / f"{name}.wav")
    return root


def urdu(root: Path) -> Path:
    for name in ("Angry/SM1_F1_A01", "Happy/SF6_F12_H012", "Neutral/SM20_F8_N012", "Sad/SM6_F4_S0100"):
        write_wav(root / f"{name}.wav")
    return root


def aesd(root: Path) -> Path:
    for name in ("anger/a01 (1)", "anger/a06 (5)b", "fear/f10 (01)", "sadness/s02 (3)", "happiness/h11 (2)"):
        write_wav(root / f"{name}.wav")
    return root


def esd(root: Path, split_folders: bool = False) -> Path:
    lines = {
        "0001": [("0001_000001", "打远一看，它们的确很是美丽，", "中立"),
                 ("0001_000351", "打远一看，它们的确很是美丽，", "生气")],
        "0011": [("0011_000001", "The nine the eggs, I keep.", "Neutral"),
                 ("0011_001401", "The nine the eggs, I keep.", "Surprise")],
    }
    folders = {"中立": "Neutral", "生气": "Angry", "Neutral": "Neutral", "Surprise": "Surprise"}
    for spk, items in lines.items():
        write_text(root / spk / f"{spk}.txt", "".join(f"{u}\t{t}\t{e}\n" for u, t, e in items))
        for utt, _, emotion in items:
            sub = ("train/" if utt.endswith("000001") else "test/") if split_folders else ""
            write_wav(root / spk / folders[emotion] / f"{sub}{utt}.wav")
    return root


def emobox(root: Path) -> Path:
    """An EmoBox checkout: data/cafe/ metadata + downloads/cafe/ audio (paths relative to the checkout)."""
    data = root / "data" / "cafe"
    items = [("cafe-01-C-1-1", "Colère/Faible/01-C-1-1.wav", "c"), ("cafe-02-N-1-4", "Neutre/02-N-1-4.wav", "n"),
             ("cafe-12-J-2-6", "Joie/Fort/12-J-2-6.wav", "j")]
    lines = []
    for key, rel, emo in items:
        wav = f"downloads/cafe/CaFE_48k/{rel}"
        write_wav(root / wav)
        lines.append(json.dumps({"key": key, "dataset": "cafe", "wav": wav, "type": "raw", "sample_rate": SR,
                                 "num_frame": SR * SECONDS, "task": "category", "length": SECONDS, "emo": emo,
                                 "channel": 1}))
    write_text(data / "cafe.jsonl", "\n".join(lines) + "\n")
    write_text(data / "label_map.json", json.dumps({"c": "Angry", "d": "Disgust", "j": "Happy", "n": "Neutral",
                                                    "p": "Fear", "s": "Surprise", "t": "Sad"}, indent=4))
    write_text(data / "data.seg.wrd.stm", "".join(
        f"{key} 1 {key.split('-')[1]} 0 {SECONDS} <id={key},lang=en,spk={key.split('-')[1]},emotion={emo}> {emo}\n"
        for key, _, emo in items))
    write_text(data / "corpus.cfg", "[Corpus]\nname = cafe\nlanguage = french\nbase = data/cafe\n")
    fold = data / "fold_1"
    write_text(fold / "cafe_train_fold_1.jsonl", "\n".join(lines[:2]) + "\n")
    write_text(fold / "cafe_test_fold_1.jsonl", lines[2] + "\n")
    return root


def csv_manifest(root: Path) -> Path:
    write_wav(root / "audio" / "u1.wav")
    write_wav(root / "audio" / "u2.wav", seconds=0.5)
    write_text(root / "mycorpus.csv", (
        "utt_id,path,speaker,emotion,language,text,gender,split\n"
        "u1,audio/u1.wav,s1,anger,de,Guten Morgen,F,train\n"
        "u2,audio/u2.wav,s2,neutral,de,,male,test\n"
    ))
    return root


def tone_corpus(root: Path, speakers: int = 4, per_emotion: int = 3, emotions: tuple[str, ...] = ("neutral", "angry"),
                name: str = "tones.csv") -> Path:
    """A CSV corpus of harmonic tones (pitch by emotion and speaker): enough for a real suite run
    in seconds, with no eSpeak build. Returns the CSV's path."""
    lines = ["utt_id,path,speaker,emotion,language,gender"]
    for s in range(speakers):
        for e, emotion in enumerate(emotions):
            for i in range(per_emotion):
                utt = f"s{s}_{emotion}_{i}"
                write_wav(root / "wav" / f"{utt}.wav", seconds=0.5, freq=110.0 * (1 + e) + 7 * s + 3 * i)
                lines.append(f"{utt},wav/{utt}.wav,spk{s},{emotion},en,{'female' if s % 2 else 'male'}")
    return write_text(root / name, "\n".join(lines) + "\n")
