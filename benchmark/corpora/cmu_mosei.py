"""CMU-MOSEI (Zadeh et al., 2018), English YouTube monologues, emotion intensities.

The SDK keeps labels in ``CMU_MOSEI_Labels.csd`` (HDF5; per video the
segment ``intervals`` and ``features`` = sentiment, happy, sad, anger,
surprise, disgust, fear, each emotion an intensity in [0, 3] averaged over
three annotators). emobench reads a plain CSV export of it, beside the
full-video audio of the raw release::

    <root>/CMU_MOSEI_emotions.csv
        video_id,segment_id,start,end,happy,sad,anger,surprise,disgust,fear[,text][,split]
    <root>/Audio/Full/WAV_16000/<video_id>.wav   (or Raw/Audio/Full/WAV_16000/)

Export with the SDK (``pip install mmsdk``)::

    from mmsdk import mmdatasdk
    import pandas as pd
    seqs = mmdatasdk.mmdataset({"labels": "CMU_MOSEI_Labels.csd"}).computational_sequences["labels"]
    rows = []
    for vid in seqs.keys():
        for k, ((start, end), f) in enumerate(zip(seqs[vid]["intervals"], seqs[vid]["features"])):
            rows.append(dict(video_id=vid, segment_id=k, start=start, end=end, happy=f[1], sad=f[2],
                             anger=f[3], surprise=f[4], disgust=f[5], fear=f[6]))
    pd.DataFrame(rows).to_csv("CMU_MOSEI_emotions.csv", index=False)

(add a ``split`` column of train/val/test from the SDK's standard folds if
wanted; ``file``/``index`` are accepted for ``video_id``/``segment_id``.)

**Single-label rule** (the corpus is multi-label; emobench needs one class):
let m be the largest of the six intensities.

* m == 0 (no annotator saw any emotion) -> ``neutral``;
* 0 < m < ``min_intensity`` (default 0.5: at most one annotator saw a weak
  emotion) -> excluded, reported as "weak";
* two or more emotions share m -> excluded, reported as a tie;
* otherwise the emotion with intensity m (happy, sad, angry, surprise,
  disgust, fear).

Segments are cut out of the full-video wavs (start clamped at 0, since the
SDK pads some intervals before the file starts) and written once to
``cache_dir`` (default ``$EMOBENCH_HOME/corpora/cmu_mosei_segments``); the
manifest keeps ``source_path``, ``start_s`` and ``end_s``. Speaker = video
(CMU-MOSEI has no speaker ids; each video is one speaker's monologue).
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import soundfile as sf
from tqdm import tqdm

from benchmark.corpora import CORPORA
from benchmark.corpora._common import ClassesArg, Collector, corpus_root, finish, strict_options
from benchmark.errors import ConfigError, ManifestError
from benchmark.manifest import OnError, SkipReport
from benchmark.paths import corpora_dir

CORPUS = "cmu_mosei"
LAYOUT = "<root>/CMU_MOSEI_emotions.csv and <root>/Audio/Full/WAV_16000/<video_id>.wav"

INTENSITIES = {"happy": "happy", "sad": "sad", "anger": "angry", "surprise": "surprise", "disgust": "disgust",
               "fear": "fear"}
ALIASES = {"file": "video_id", "index": "segment_id", "clip_id": "segment_id"}
SPLITS = {"train": "train", "val": "val", "valid": "val", "dev": "val", "test": "test"}
AUDIO_DIRS = ("Audio/Full/WAV_16000", "Raw/Audio/Full/WAV_16000")
END_TOLERANCE_S = 1.0  # SDK intervals may overrun the audio slightly; more means the timestamps do not fit it
TIE_EPS = 1e-6


def single_label(intensities: dict[str, float], min_intensity: float = 0.5) -> tuple[str | None, str]:
    """Apply the single-label rule: (canonical emotion, "") or (None, why the segment is excluded)."""
    top = max(intensities.values())
    if top == 0:
        return "neutral", ""
    if top < min_intensity:
        return None, f"weak emotion: max intensity {top:.3g} < min_intensity {min_intensity:g}"
    winners = [name for name, v in intensities.items() if abs(v - top) <= TIE_EPS]
    if len(winners) > 1:
        return None, f"tie between {', '.join(winners)} at intensity {top:.3g}"
    return INTENSITIES[winners[0]], ""


@CORPORA.register(CORPUS)
@strict_options
def load_cmu_mosei(root: str | Path | None, *, on_error: OnError = "raise", check_files: bool = True,
                   classes: ClassesArg = None, labels: str = "CMU_MOSEI_emotions.csv", audio_dir: str | None = None,
                   cache_dir: str | Path | None = None, min_intensity: float = 0.5,
                   progress: bool = True) -> tuple[pd.DataFrame, SkipReport]:
    """Load CMU-MOSEI segments from ``root`` (see the module docstring for the CSV and the label rule)."""
    if not 0 < min_intensity <= 3:
        raise ConfigError(f"min_intensity must be in (0, 3], not {min_intensity!r}")
    base = corpus_root(root, CORPUS, LAYOUT)
    table = _read_labels(base / labels)
    audio = _audio_dir(base, audio_dir)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else corpora_dir() / "cmu_mosei_segments"
    cache.mkdir(parents=True, exist_ok=True)
    col = Collector(CORPUS, base)
    has_text = "text" in table.columns
    rows = table.to_dict("records")
    for i, row in enumerate(tqdm(rows, desc="cmu_mosei: cutting segments", unit="segment",
                                 disable=not progress or len(rows) < 500), start=2):  # line 1 is the header
        _add(col, row, f"{labels} line {i}", audio, cache, min_intensity, has_text)
    return finish(col, on_error=on_error, check_files=check_files, classes=classes, require_text=has_text,
                  progress=progress)


def _read_labels(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ManifestError(str(path), [f"labels CSV not found (layout: {LAYOUT}; see the loader docstring "
                                        "for the export from CMU_MOSEI_Labels.csd)"])
    table = pd.read_csv(path, dtype={"video_id": str, "file": str, "text": str}, keep_default_na=False,
                        na_values={c: [""] for c in ("start", "end", *INTENSITIES)})
    table = table.rename(columns={k: v for k, v in ALIASES.items() if k in table.columns and v not in table.columns})
    if "segment_id" not in table.columns and "video_id" in table.columns:
        table["segment_id"] = table.groupby("video_id").cumcount()
    missing = [c for c in ("video_id", "start", "end", *INTENSITIES) if c not in table.columns]
    if missing:
        raise ManifestError(str(path), [f"missing column {c!r} (six intensity columns are needed for the "
                                        "single-label rule)" for c in missing])
    return table


def _audio_dir(base: Path, audio_dir: str | None) -> Path:
    if audio_dir is not None:
        return (base / audio_dir).resolve()
    return next((base / d for d in AUDIO_DIRS if (base / d).is_dir()), base / AUDIO_DIRS[0])


def _add(col: Collector, row: dict, entry: str, audio: Path, cache: Path, min_intensity: float,
         has_text: bool) -> None:
    video, segment = str(row["video_id"]).strip(), str(row["segment_id"]).strip()
    utt = f"{video}_{segment}"
    entry = f"{entry} ({utt})"
    reasons = []
    values: dict[str, float] = {}
    for name in INTENSITIES:
        v = _number(row[name])
        if v is None or not 0 <= v <= 3:
            reasons.append(f"bad {name} intensity {row[name]!r} (expected a number in [0, 3])")
        else:
            values[name] = v
    start, end = _number(row["start"]), _number(row["end"])
    if start is None or end is None or end <= max(start, 0):
        reasons.append(f"bad interval start={row['start']!r} end={row['end']!r}")
    split = None
    if "split" in row and str(row["split"]).strip():
        split = SPLITS.get(str(row["split"]).strip().lower())
        if split is None:
            reasons.append(f"unknown split {row['split']!r} (expected {', '.join(SPLITS)})")
    if reasons:
        col.problem(entry, "; ".join(reasons))
        return
    emotion, why = single_label(values, min_intensity)
    if emotion is None:
        col.exclude_utt(utt, why)
        return
    assert start is not None and end is not None   # a bad interval was reported above
    source = audio / f"{video}.wav"
    segment_path = _cut(col, entry, source, cache, utt, start, end)
    if segment_path is None:
        return
    col.add(utt, segment_path, speaker=video, emotion=emotion, language="en",
            text=str(row["text"]).strip() if has_text else None, split=split, source_path=str(source),
            start_s=max(start, 0.0), end_s=end)


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _cut(col: Collector, entry: str, source: Path, cache: Path, utt: str, start: float, end: float) -> Path | None:
    """Write the segment once (atomically); reuse it when the same interval was cut before."""
    target = cache / f"{utt}_{round(max(start, 0) * 1000)}-{round(end * 1000)}.wav"
    if target.is_file() and target.stat().st_size > 44:  # more than a bare WAV header
        return target
    if not source.is_file():
        col.problem(entry, f"missing audio file {source}")
        return None
    try:
        info = sf.info(str(source))
    except Exception as exc:  # libsndfile raises several exception types
        col.problem(entry, f"unreadable audio file {source} ({exc})")
        return None
    duration = info.frames / info.samplerate
    if end > duration + END_TOLERANCE_S:
        col.problem(entry, f"segment end {end:.3f} s is past the end of {source.name} ({duration:.3f} s)")
        return None
    first, last = round(max(start, 0) * info.samplerate), min(round(end * info.samplerate), info.frames)
    data, sr = sf.read(str(source), start=first, stop=last, always_2d=True)
    tmp = target.with_suffix(".tmp.wav")
    sf.write(str(tmp), data, sr, subtype="PCM_16")
    tmp.replace(target)
    return target
