"""Fingerprint of the TTS training numerics: is a refactor bit-identical for a seed?

Trains, on a tiny English embedded corpus (64 utterances, one thread), the base acoustic model twice
(validation + early stopping + decoder crops + warm-up/cosine; no validation + constant rate) and five
fine-tunes of one base (no emotion, a logreg conditioner, each with and without the decoder stage, the
projection-only decoder stage), then records per model a hash of every weight, every per-epoch history
value as ``float.hex`` and a hash of one synthesized log-mel. Each checkout runs in its own process
(``PYTHONPATH`` set to it), so two versions of the code compare on the same machine:

    python perf/tts_training_fingerprint.py                          # this checkout
    python perf/tts_training_fingerprint.py --against /path/to/other/checkout

Writes perf/results/tts_training_fingerprint.json (the fingerprints and whether they are equal) and
exits 1 when the checkouts differ. Bits depend on the torch build and CPU kernels: compare checkouts
on one machine, not against numbers from another. About 1 minute per checkout on a loaded core.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = dict(size=64, languages="en", speakers_per_language=2, sessions_per_language=1, sentences_per_language=30,
              imbalance=1.0)
BASE = dict(d_model=32, encoder_layers=1, decoder_layers=2, epochs=3, batch_size=8, lr=3e-3, val_fraction=0.2,
            patience=2, progress=False, threads=1, crop_frames=48)
FINETUNES = {"ft_none": (False, {}), "ft_logreg": (True, {}), "ft_logreg_dec": (True, {"decoder_epochs": 2}),
             "ft_none_dec": (False, {"decoder_epochs": 2}),
             "ft_logreg_proj": (True, {"decoder_epochs": 2, "decoder_modules": "projection"})}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _weights(model) -> str:
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _history(history: list[dict]) -> list[dict]:
    return [{k: (float(v).hex() if isinstance(v, float) else v) for k, v in r.items()} for r in history]


def fingerprint() -> dict:
    """The fingerprint of the code on ``sys.path`` (run in a worker process)."""
    import numpy as np

    import benchmark.corpora._register_all  # noqa: F401  (the corpus registry)
    from benchmark.corpora import load_corpus
    from benchmark.features import feature_set
    from benchmark.methods import METHODS
    from benchmark.tts.train import TTSTrainConfig, finetune_tts, train_tts

    manifest, _ = load_corpus("embedded", None, progress=False, **CORPUS)
    first = manifest.iloc[0]
    out: dict = {}
    base = train_tts(manifest, None, TTSTrainConfig(**BASE))
    out["base"] = {"weights": _weights(base.acoustic), "history": _history(base.history),
                   "mel": _sha(np.ascontiguousarray(base.mel(first.text, first.language, first.speaker)).tobytes())}
    plain = train_tts(manifest, None, TTSTrainConfig(**{**BASE, "val_fraction": 0.0, "lr_schedule": "constant"}))
    out["base_noval_constant"] = {"weights": _weights(plain.acoustic), "history": _history(plain.history)}
    logreg = METHODS.get("logreg")(seed=0)
    features = feature_set(manifest, logreg.feature, progress=False)
    logreg.fit(features, features)
    for name, (conditioned, overrides) in FINETUNES.items():
        tts = finetune_tts(base, manifest, logreg if conditioned else None, epochs=3, batch_size=16, progress=False,
                           **overrides)
        embeddings = tts.embed_references([manifest.iloc[3]["path"]]) if conditioned else None
        mel = tts.mel(first.text, first.language, first.speaker, None if embeddings is None else embeddings[0])
        out[name] = {"weights": _weights(tts.acoustic), "history": _history(tts.history[len(base.history):]),
                     "mel": _sha(np.ascontiguousarray(mel).tobytes())}
    return out


def _run(checkout: Path, home: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout), "EMOBENCH_HOME": str(home)}
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker"], env=env, cwd=checkout,
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"fingerprint of {checkout} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("EMOBENCH_HOME", "~/.cache/emobench")),
                        help="EMOBENCH_HOME for both (the tiny corpus and features are cached there)")
    parser.add_argument("--out", type=Path, default=ROOT / "perf" / "results" / "tts_training_fingerprint.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import benchmark

        print(json.dumps({"package": str(Path(benchmark.__file__).parent), "fingerprint": fingerprint()}))
        return
    home = args.home.expanduser()
    result: dict = {"checkouts": {str(ROOT): _run(ROOT, home)}}
    if args.against is not None:
        result["checkouts"][str(args.against)] = _run(args.against.resolve(), home)
        a, b = (c["fingerprint"] for c in result["checkouts"].values())
        result["different"] = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        result["identical"] = not result["different"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    if args.against is not None:
        print("identical" if result["identical"] else f"DIFFERENT: {', '.join(result['different'])}")
        sys.exit(0 if result["identical"] else 1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
