"""How a suite's cost divides over N workers, estimated from the cell timings of a run in an MLflow store.

    .venv/bin/python perf/estimate_suite_cost.py --suite full --store sqlite:////tmp/lead/default/mlflow.db
    .venv/bin/python perf/estimate_suite_cost.py --suite full --store ... --cpus-per-node 16

An ESTIMATE, for sizing a cluster before a long run (docs/scale-out.md): nothing is trained,
and the suite's corpus need not be built (the embedded corpus's grid comes from its
utterance plan, :func:`benchmark.corpora.embedded.build.plan_utterances`, without audio).

The grid, its jobs (training groups: cells that share one fit; a TTS group's systems, which
run one after the other) and the longest-first schedule are those of ``emobench run``
(:func:`benchmark.runner.schedule`, :class:`benchmark.plan.Plan`). Each job's cost comes
from the store's FINISHED cell runs of the same method (another suite's, e.g. ``default``):

- SER: fit time per training utterance and epoch (``fit_seconds / (n_train * epoch_cap)``;
  non-iterative methods: per training utterance), times the suite's training-set size and
  epoch cap, plus the rest of the cell's run time (scoring, embeddings, logging) per test
  utterance, times the suite's test-set size;
- TTS: the base model's training time per training utterance and epoch, times the suite's;
  each system's fine-tuning per epoch; its scoring per synthesized utterance.

So the estimate assumes the same machine and load as the measured run, fit time linear in
data and epochs, every fit running to its epoch cap (early stopping only shortens it) and
the same network widths: a suite whose networks are wider than the measured run's (``full``
against ``default``) costs more than this. Methods the store has never run are listed and
left out. The JSON goes to ``perf/results/estimate_<suite>_cost.json``.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "perf" / "results"


def metadata_manifests(suite) -> dict[str, pd.DataFrame]:
    """The suite's embedded corpora as manifests without audio (their grid needs only the metadata)."""
    from benchmark.corpora.embedded.build import make_config, plan_utterances
    from benchmark.runner import corpus_name

    out = {}
    for spec in suite.corpora:
        if spec.name != "embedded":
            raise SystemExit(f"corpus {spec.name!r}: only the embedded corpus can be planned without its audio")
        specs = plan_utterances(make_config(spec.options))
        frame = pd.DataFrame({
            "utt_id": [s.utt_id for s in specs], "path": [f"/nonexistent/{s.utt_id}.wav" for s in specs],
            "corpus": "embedded", "language": [s.speaker.language for s in specs],
            "speaker": [s.speaker.speaker_id for s in specs], "emotion": [s.emotion for s in specs],
            "text": [s.text for s in specs], "duration_s": 2.0, "session": [s.speaker.session for s in specs],
            "gender": [s.speaker.gender for s in specs]})
        out[corpus_name("embedded", frame)] = frame
    return out


def measured_rates(uri: str) -> dict[str, dict[str, float]]:
    """Per method: medians of fit seconds per (train utterance x epoch) and of the rest per test utterance."""
    from benchmark import tracking

    client = tracking.configure(uri)
    exp_ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(exp_ids, filter_string=f"tags.`{tracking.KIND_TAG}` = 'cell' and "
                                                     "attributes.status = 'FINISHED'", max_results=50000)
    samples: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        m, method = run.data.metrics, run.data.tags.get("method")
        duration = (run.info.end_time - run.info.start_time) / 1000
        tts = run.data.tags.get("protocol") == "tts"
        s = samples.setdefault(f"tts:{method}" if tts else method, {})  # a TTS system is not its SER cells
        if tts:
            train_cfg = json.loads(run.data.params.get("tts.train") or "{}")
            finetune_cfg = json.loads(run.data.params.get("tts.finetune") or "{}")
            n_utt = max(1.0, m.get("n_utterances", 1.0))
            if method == "none" and "base_train_seconds" in m:  # the chain's control trains the base model
                s.setdefault("base_per_utt_epoch", []).append(
                    m["base_train_seconds"] / (m["n_train_utterances"] * train_cfg.get("epochs", 60)))
            if "finetune_seconds" in m:
                s.setdefault("finetune_per_utt_epoch", []).append(
                    m["finetune_seconds"] / (m["n_train_utterances"] * finetune_cfg.get("epochs", 30)))
            # the control trained the base model; the others loaded it and fine-tuned (their train_seconds
            # repeats the base model's time)
            own = m.get("train_seconds", 0.0) if method == "none" else m.get("finetune_seconds", 0.0)
            s.setdefault("rest_per_test", []).append(max(0.0, duration - own) / n_utt)
            continue
        if "fit_seconds" not in m or "n_train" not in m:
            continue
        units = m["n_train"] * m.get("epoch_cap", 1.0)
        s.setdefault("fit_per_unit", []).append(m["fit_seconds"] / max(1.0, units))
        s.setdefault("rest_per_test", []).append(max(0.0, duration - m["fit_seconds"]) / max(1.0, m["n_test"]))
    return {method: {k: statistics.median(v) for k, v in s.items()} for method, s in samples.items()}


def cell_epochs(cell) -> float:
    """The epoch cap of a cell's fit (1 for a method that does not train in epochs)."""
    from benchmark.methods import METHODS

    return float(METHODS.get(cell.registered)(**cell.hparams).hparams.get("epochs", 1))


def tts_chain_cost(group: list, manifest: pd.DataFrame, rates: dict[str, dict[str, float]]) -> float:
    """A TTS group's systems, one after the other: the base model, each system's fine-tuning and scoring."""
    from benchmark.tts.evaluate import TTSEvalConfig
    from benchmark.tts.train import TTSFinetuneConfig

    config = TTSEvalConfig(**group[0].config)
    rows = manifest[manifest["language"] == config.language]
    n_test = round(len(rows) * config.heldout_sentences / rows["text"].nunique())  # the held-out sentences' rows
    n_train = len(rows) - n_test
    n_scored = min(n_test, config.max_test_utterances or n_test)
    control = rates.get("tts:none", {})
    finetune_epochs = TTSFinetuneConfig(**config.finetune).epochs
    cost = control.get("base_per_utt_epoch", 0.0) * n_train * config.train.epochs
    for cell in group:
        measured = rates.get(f"tts:{cell.system}") or rates.get("tts:emotion_extractor", {})  # as the one measured
        cost += measured.get("rest_per_test", control.get("rest_per_test", 0.0)) * n_scored
        if cell.system not in ("ground_truth", "resynthesis"):
            cost += measured.get("finetune_per_utt_epoch", 0.0) * n_train * finetune_epochs
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="full")
    parser.add_argument("--store", required=True, help="tracking URI of a store holding a run of the methods")
    parser.add_argument("--workers", default="1,2,4,8,16,32,64", help="worker counts to schedule on")
    args = parser.parse_args()

    from benchmark.plan import Plan
    from benchmark.runner import expand_cells, schedule
    from benchmark.suite import load_suite

    suite = load_suite(args.suite)
    manifests = metadata_manifests(suite)
    cells = expand_cells(suite, manifests)
    rates = measured_rates(args.store)
    chains: dict[str, float] = {}
    tts_chains: list[float] = []
    missing: set[str] = set()
    for group in schedule(cells):
        first = group[0]
        if first.chained:  # a TTS group: its systems run one after another
            chains[first.training_key] = tts_chain_cost(group, manifests[first.corpus], rates)
            tts_chains.append(chains[first.training_key])
            continue
        r = rates.get(first.method) or rates.get(first.registered)
        if r is None or "fit_per_unit" not in r:
            missing.add(first.method)
            continue
        cost = r["fit_per_unit"] * len(first.split.train_ids) * cell_epochs(first)
        cost += sum(r["rest_per_test"] * len(c.split.test_ids) for c in group)
        chains[first.training_key] = cost

    plan = Plan(suite.name, args.store, pd.DataFrame(), len(cells), 0, len(chains), list(chains.values()),
                sum(1 for c in cells if not c.chained and c.method in missing))
    workers = [int(w) for w in args.workers.split(",")]
    result = {
        "estimate": True, "suite": suite.name, "store": args.store, "cells": len(cells),
        "ser_cells": sum(c.protocol_label != "tts" for c in cells),
        "tts_cells": sum(c.protocol_label == "tts" for c in cells), "jobs_or_chains": len(chains),
        "total_s": round(plan.total_s), "critical_path_s": round(plan.critical_path_s),
        "tts_chain_s": sorted(round(v) for v in tts_chains),
        "wall_s_on_workers": {n: round(plan.wall_s(n)) for n in workers},
        "methods_without_timing": sorted(missing), "cells_without_timing": plan.unknown,
        "rates": {m: {k: round(v, 6) for k, v in r.items()} for m, r in sorted(rates.items())},
    }
    print(json.dumps({k: v for k, v in result.items() if k != "rates"}, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"estimate_{suite.name}_cost.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
