"""Calibration of the embedded corpus: is emotion learnable, but not trivially, on unseen speakers?

Builds (or reuses) the embedded corpus, computes acoustic functionals per
utterance and prints

* emotion UA (unweighted average recall) of a z-scored logistic regression
  tested on UNSEEN speakers (5-fold cross-validation grouped by speaker),
  next to chance (1 / number of classes); target roughly 0.45-0.75;
* speaker-probe accuracy: the same classifier predicting the speaker from the
  same features (5-fold stratified by speaker, so every test speaker was
  seen in training), next to chance (1 / number of speakers).

Features (``--features``): ``auto`` uses the project's registered
``functionals`` extractor (``benchmark.features.extract_features``) when it
exists, else ``own``, the small functional set below (F0, energy, spectral
shape, MFCC statistics); ``egemaps`` uses openSMILE's eGeMAPS v02.

    .venv/bin/python perf/calibrate_embedded.py                  # default corpus
    .venv/bin/python perf/calibrate_embedded.py --features egemaps
    .venv/bin/python perf/calibrate_embedded.py --difficulty 0.8 --jobs 2
"""
from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd


def own_functionals(path: str) -> np.ndarray:
    """About 60 functionals of one file: F0 (semitones), energy, spectral shape, MFCCs, duration."""
    import warnings

    import librosa
    import soundfile as sf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyworld imports pkg_resources
        import pyworld

    x, sr = sf.read(path, dtype="float64")
    f0, t = pyworld.dio(x, sr, frame_period=10.0)
    f0 = pyworld.stonemask(x, f0, t, sr)
    voiced = f0 > 0
    st = 12 * np.log2(f0[voiced] / 100.0) if voiced.sum() > 2 else np.zeros(3)
    hop, win = sr // 100, sr // 40
    rms = librosa.feature.rms(y=x, frame_length=win, hop_length=hop)[0]
    db = 20 * np.log10(rms + 1e-8)
    active = db > db.max() - 30
    S = np.abs(librosa.stft(x, n_fft=512, hop_length=hop, win_length=win)) ** 2
    freqs = librosa.fft_frequencies(sr=sr, n_fft=512)
    S_act = S[:, active[: S.shape[1]]] if active[: S.shape[1]].any() else S
    centroid = (freqs[:, None] * S_act).sum(0) / (S_act.sum(0) + 1e-12)
    tilt = 10 * np.log10((S_act[freqs >= 1000].sum(0) + 1e-12) / (S_act[freqs < 1000].sum(0) + 1e-12))
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(librosa.feature.melspectrogram(S=S, sr=sr, n_mels=40)),
                                n_mfcc=13)
    mfcc = mfcc[:, active[: mfcc.shape[1]]] if active[: mfcc.shape[1]].any() else mfcc
    d_st = np.abs(np.diff(st)) if len(st) > 1 else np.zeros(1)
    feats = [
        st.mean(), st.std(), *np.percentile(st, [10, 50, 90]), np.percentile(st, 90) - np.percentile(st, 10),
        voiced.mean(), d_st.mean(),
        db[active].mean(), db[active].std(), *np.percentile(db[active], [10, 50, 90]), db.max(), active.mean(),
        centroid.mean(), centroid.std(), tilt.mean(), tilt.std(),
        *mfcc.mean(1), *mfcc.std(1),
        len(x) / sr, active.sum() * hop / sr,
    ]
    return np.asarray(feats, dtype=float)


def egemaps_functionals(paths: list[str]) -> np.ndarray:
    """eGeMAPS v02 functionals (88) through openSMILE, one row per file."""
    import opensmile

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    return np.stack([smile.process_file(p).to_numpy()[0] for p in paths])


def features_for(manifest: pd.DataFrame, jobs: int, kind: str = "auto") -> tuple[np.ndarray, str]:
    """Functionals per utterance (rows in manifest order) and a description of where they came from."""
    if kind == "auto":
        try:
            from benchmark.features import extract_features  # the project's extractor, once it exists
        except ImportError:
            kind = "own"
        else:
            feats = extract_features(manifest, "functionals")
            return np.stack([feats[u] for u in manifest["utt_id"]]), "benchmark.features 'functionals'"
    with ProcessPoolExecutor(jobs) as pool:
        if kind == "egemaps":
            chunks = np.array_split(manifest["path"].to_numpy(), max(1, len(manifest) // 100))
            return np.concatenate(list(pool.map(egemaps_functionals, chunks))), "eGeMAPS v02 (openSMILE)"
        rows = list(pool.map(own_functionals, manifest["path"], chunksize=32))
    return np.stack(rows), "own functional set (F0, energy, spectral shape, MFCC statistics)"


def calibrate(manifest: pd.DataFrame, X: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Emotion UA on unseen speakers and speaker-probe accuracy, both by 5-fold cross-validation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.nan_to_num(X)
    y = manifest["emotion"].to_numpy()
    speakers = manifest["speaker"].to_numpy()
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, class_weight="balanced"))
    pred = cross_val_predict(clf, X, y, groups=speakers, cv=GroupKFold(n_splits=5))
    ua = balanced_accuracy_score(y, pred)
    per_class = {c: float(np.mean(pred[y == c] == c)) for c in sorted(set(y))}
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    spk_pred = cross_val_predict(probe, X, speakers, cv=StratifiedKFold(5, shuffle=True, random_state=seed))
    # The same emotion classifier on features z-scored per speaker: how much the speaker confound costs.
    Z = pd.DataFrame(X).groupby(speakers).transform(lambda c: (c - c.mean()) / (c.std() + 1e-9)).to_numpy()
    pred_z = cross_val_predict(clf, Z, y, groups=speakers, cv=GroupKFold(n_splits=5))
    return {"ua": ua, "chance_ua": 1 / len(set(y)), "speaker_acc": float(np.mean(spk_pred == speakers)),
            "chance_speaker": 1 / len(set(speakers)), "ua_speaker_normalised": balanced_accuracy_score(y, pred_z),
            **{f"recall_{c}": r for c, r in per_class.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--difficulty", type=float)
    parser.add_argument("--imbalance", type=float)
    parser.add_argument("--root", default=None, help="builds folder (default: $EMOBENCH_HOME/corpora/embedded)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--features", choices=("auto", "own", "egemaps"), default="auto",
                        help="auto: benchmark.features 'functionals' if present, else own")
    args = parser.parse_args()

    from benchmark.corpora import load_corpus

    options = {k: v for k, v in {"size": args.size, "seed": args.seed, "difficulty": args.difficulty,
                                 "imbalance": args.imbalance}.items() if v is not None}
    manifest, _ = load_corpus("embedded", args.root, jobs=args.jobs, **options)
    start = time.perf_counter()
    X, source = features_for(manifest, args.jobs, args.features)
    feat_s = time.perf_counter() - start
    r = calibrate(manifest, X)
    print(f"embedded corpus {options or '(default config)'}: {len(manifest)} utterances, "
          f"{manifest['speaker'].nunique()} speakers, {manifest['language'].nunique()} languages")
    print(f"features: {source}, {X.shape[1]} dims, {feat_s:.1f} s")
    print(f"emotion UA, unseen speakers (5-fold grouped by speaker, z-scored logistic regression): "
          f"{r['ua']:.3f}   (chance {r['chance_ua']:.3f}; target 0.45-0.75)")
    print("  per-class recall: " + ", ".join(f"{k[7:]} {v:.3f}" for k, v in r.items() if k.startswith("recall_")))
    print(f"  same, features z-scored per speaker (speaker normalisation): {r['ua_speaker_normalised']:.3f}")
    print(f"speaker probe accuracy (5-fold stratified by speaker): {r['speaker_acc']:.3f}   "
          f"(chance {r['chance_speaker']:.3f})")


if __name__ == "__main__":
    main()
