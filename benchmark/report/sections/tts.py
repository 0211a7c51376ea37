"""The emotional-TTS section: one table per corpus of every TTS system, judged, transcribed and measured.

TTS cells (protocol ``tts``: corpus x system x seed, see ``benchmark.runner``)
are scored by a judge SER classifier, not by the method itself; the table is
built from their predictions tables (the judge's labels against the intended
emotions), ``tts/per_utterance.parquet`` (Whisper WER/CER, MCD, F0 and every
registered TTS-table metric), and the notes from ``tts/settings.json``; the
figures from the judge's recall per emotion and ``tts/showcase.npz``.
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from benchmark import leaderboard as LB
from benchmark import results
from benchmark.errors import EmobenchError
from benchmark.metrics import stacked as st
from benchmark.metrics.registry import METRICS
from benchmark.report import figures as F
from benchmark.report import style as ST
from benchmark.report.content import SYNTHETIC_NOTE, ReportFigure, ReportTable, Section
from benchmark.report.formatting import fmt, pct, slug
from benchmark.report.inputs import SYNTHETIC_CORPORA, ReportInputs, meta



def _tts_references(cells: pd.DataFrame) -> list[str]:
    """The reference systems among TTS cells (tag ``meta.system`` = reference: ground truth, resynthesis)."""
    refs = cells[meta(cells, "system").astype(str) == "reference"]["method"].astype(str).unique()
    return sorted(refs, key=lambda m: (m != "ground_truth", m))


def _tts_system_order(cells: pd.DataFrame) -> list[str]:
    """References first (ground truth, then resynthesis), then the control "none", then the methods."""
    refs = _tts_references(cells)
    others = sorted(set(cells["method"].astype(str)) - set(refs), key=lambda m: (m != "none", m))
    return refs + others


def _settings_notes(inputs: ReportInputs, cells: pd.DataFrame) -> list[str]:
    """What judged and transcribed the speech, and how MCD was computed, from the cells' tts/settings.json."""
    judges, accuracy, asr, mcd, vocoder = set(), {}, set(), set(), set()
    scorers: dict[str, set[str]] = {}
    for row in cells.to_dict("records"):
        settings = results.load_tts_settings(row["run_id"], inputs.tracking_uri) or {}
        for name, record in (settings.get("scorers") or {}).items():   # the other registered scorers' settings
            scorers.setdefault(name, set()).add(_describe(record))
        judge = settings.get("judge") or {}
        if judge.get("name"):
            how = "; ".join(str(judge[k]) for k in ("classifier", "trained_on") if judge.get(k))
            judges.add(f"{judge['name']} ({how})" if how else str(judge["name"]))
        acc = judge.get("heldout_accuracy", row.get("judge_heldout_accuracy"))
        if acc is not None and np.isfinite(float(acc)):
            accuracy[str(row["seed"])] = float(acc)   # one judge per seed, shared by the seed's systems
        a = settings.get("asr") or {}
        if a:
            beam = a.get("beam_size", a.get("beam"))
            asr.add(", ".join(f"{k} {v}" for k, v in (("backend", a.get("backend")), ("model", a.get("model")),
                                                     ("beam", beam)) if v is not None))
        if settings.get("mcd"):
            mcd.add(_describe(settings["mcd"]))
        if settings.get("vocoder"):
            vocoder.add(_describe(settings["vocoder"]))
    notes = []
    judge_text = f"Judge: {'; '.join(sorted(judges)) or 'not recorded'}"
    if accuracy:
        values = np.array(list(accuracy.values()))
        spread = (f" (range {pct(values.min())}–{pct(values.max())} over {len(values)} seeds)"
                  if len(values) > 1 else "")
        judge_text += f"; its accuracy on the held-out ground-truth recordings: {pct(values.mean())}%{spread}"
    notes.append(judge_text + ". Emotion accuracy = the judge's accuracy against the intended emotion.")
    notes.append(f"ASR (WER, CER): {'; '.join(sorted(asr)) or 'not recorded'}; text normalised with Whisper's "
                 "normaliser; corpus-level rates (summed errors / summed reference words or characters).")
    notes.append(f"MCD: {'; '.join(sorted(mcd)) or 'not recorded'}. F0 RMSE over DTW-aligned frames voiced in both.")
    if vocoder:
        notes.append(f"Vocoder: {'; '.join(sorted(vocoder))}.")
    notes += [f"Scorer {name}: {'; '.join(sorted(records))}." for name, records in sorted(scorers.items())]
    return notes


def _describe(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_describe(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    return str(value)


def tts_columns(inputs: ReportInputs, cells: pd.DataFrame) -> list[str]:
    """The TTS table's metric columns: judge accuracy and UA, the judge's recall of each class, then every
    registered TTS-table metric shown in reports (``in_report``) whose column the cells' per-utterance
    tables carry, in registration order (``benchmark.metrics.registry``)."""
    classes = st.class_labels(inputs.predictions(cells))
    present: set[str] = set()
    for run_id in cells["run_id"]:
        present |= set(results.load_tts_utterances(run_id, inputs.tracking_uri).columns)
    tts = [s.name for s in METRICS if s.reads == "tts_table" and s.in_report and s.numerator in present]
    return ["wa", "ua", *[f"recall.{c}" for c in classes], *tts]


def _tts_table(inputs: ReportInputs, cells: pd.DataFrame, corpus: str, references: list[str],
               several: bool) -> ReportTable:
    columns = tts_columns(inputs, cells)
    definition = LB.LeaderboardDef(name=f"report-tts-{corpus}", suite=inputs.suite, protocol=LB.TTS_PROTOCOL,
                                   corpus=corpus, rank_by="wa", columns=columns,
                                   labels={"wa": "Emotion accuracy", "ua": "Emotion UA"}, references=references,
                                   n_bootstrap=inputs.n_bootstrap, seed=inputs.seed)
    board = LB.build_leaderboard(definition, inputs.tracking_uri, progress=False)
    conditioner = {str(m): str(g.iloc[0]) for m, g in meta(cells, "conditioner").groupby(cells["method"])}
    rows = []
    for e in board.entries.to_dict("records"):
        ref = bool(e.get("reference"))
        row = {"rank": LB.REFERENCE_MARK if ref else str(e["rank"]),
               "system": f"{e['method']} (reference)" if ref else e["method"],
               "emotion accuracy (%)": fmt(e["wa"], e["wa_low"], e["wa_high"], "", e["wa_sd"]).strip()}
        for metric in columns[1:]:
            f = functools.partial(LB.format_metric, metric)
            row[definition.header(metric)] = f"{f(e[metric])} [{f(e[f'{metric}_low'])}, {f(e[f'{metric}_high'])}]"
        if ref:
            versus = "reference"
        elif e["method"] == board.leader:
            versus = "leader"
        elif np.isfinite(e["p_vs_leader"]):
            floor = 2 / (inputs.n_bootstrap + 1)   # the smallest p a paired bootstrap can give
            versus = f"{LB.TIE_MARK + ' ' if e['tied_with_leader'] else ''}p {LB.format_p(e['p_vs_leader'], floor)}"
        else:
            versus = "n/a"
        cond = conditioner.get(e["method"], "")
        row.update({"conditioning": cond if cond not in ("", "nan") else "–", "vs leader": versus,
                    "seeds": str(e["seeds"]), "test utt.": str(e["n_test"])})
        rows.append(row)
    values = board.entries.drop(columns=["run_ids"]).assign(corpus=corpus)
    notes = [
        "Each column in the unit its header names; mean over seeds (± sd over seeds for "
        f"emotion accuracy) [bootstrap 95% CI over the held-out utterances, {inputs.n_bootstrap} resamples, the "
        "same resamples for every column and seed]. Ranked by emotion accuracy; "
        f"{LB.TIE_MARK} = not significantly different from the leader (paired bootstrap, alpha = 0.05). "
        "Emotion UA and Recall <class> are the judge's, against the intended emotion. "
        + "; ".join(f"{METRICS.get(c).label}: {METRICS.get(c).description}, {METRICS.get(c).better}"
                    for c in columns if LB.is_tts_metric(c)) + ".",
        "Reference rows are not ranked or tested: ground_truth = the held-out recordings themselves (MCD and F0 "
        "are against themselves, so not shown), resynthesis = Griffin-Lim from their true log-mel (the "
        "vocoder's ceiling); none = the TTS model without emotion conditioning (the control).",
        *_settings_notes(inputs, cells), *board.notes]
    key = "tts" + (f"_{slug(corpus)}" if several else "")
    return ReportTable(key, f"Emotional TTS on {corpus}: judge emotion accuracy, UA and per-class recall, "
                            "intelligibility (Whisper WER/CER), distance and similarity to the ground truth and "
                            "predicted quality, per system", pd.DataFrame(rows),
                       notes, values)


def _showcase_rows(inputs: ReportInputs, cells: pd.DataFrame, order: list[str]
                   ) -> tuple[list[tuple[str, dict[str, np.ndarray]]], str, str, str]:
    """(system, showcase) rows of one seed: the ground truth, then every system that logged one for the
    same sentence and speaker. Returns the rows, the sentence, the speaker and the seed."""
    seeds = sorted(cells["seed"].astype(str).unique(), key=st.natural_key)
    for seed in seeds:
        at_seed = cells[cells["seed"].astype(str) == seed]
        shows = []
        for system in order:
            group = at_seed[at_seed["method"].astype(str) == system]
            if group.empty:
                continue
            show = results.load_tts_showcase(group.iloc[0]["run_id"], inputs.tracking_uri)
            if show is not None and len(show.get("emotions", [])) > 0:
                shows.append((system, show))
        if not shows:
            continue
        text, speaker = str(shows[0][1]["text"]), str(shows[0][1]["speaker"])
        same = [(m, s) for m, s in shows if str(s["text"]) == text and str(s["speaker"]) == speaker]
        if len(same) > 1 or seed == seeds[-1]:
            return same, text, speaker, seed
    return [], "", "", ""


def build(inputs: ReportInputs) -> Section | None:
    """Emotional TTS: one row per system (judge emotion accuracy with CI, WER, CER, MCD, F0 RMSE), the
    judge's recall per intended emotion, and log-mel spectrograms of one sentence in every emotion."""
    cells = inputs.tts
    if cells.empty:
        return None
    section = Section("tts", "Emotional TTS", [
        "Each system synthesizes the held-out sentences of the corpus (never seen in TTS training) for their "
        "speakers, conditioned on a reference utterance of the same speaker and emotion but another sentence. "
        "A judge SER classifier that is none of the compared methods labels the synthesized audio (emotion "
        "accuracy: how often it recognises the intended emotion); Whisper transcribes it (WER, CER: "
        "intelligibility); MCD and F0 RMSE measure the distance to the ground-truth recording of the same "
        "sentence, speaker and emotion. Every number is recomputed from the cells' predictions tables and "
        "per-utterance tables."])
    corpora = sorted(cells["corpus"].astype(str).unique())
    if set(corpora) & SYNTHETIC_CORPORA:
        section.text.append(f"The embedded corpus is synthetic ({SYNTHETIC_NOTE}): its ground truth is eSpeak NG "
                            "speech, so these numbers say how well each system reproduces it, not how natural "
                            "its speech would be on human recordings.")
    for corpus in corpora:
        group = cells[cells["corpus"].astype(str) == corpus]
        references = _tts_references(group)
        order = _tts_system_order(group)
        where = f" on {corpus}" if len(corpora) > 1 else ""
        suffix = f"_{slug(corpus)}" if len(corpora) > 1 else ""
        try:
            section.tables.append(_tts_table(inputs, group, corpus, references, len(corpora) > 1))
        except EmobenchError as exc:   # e.g. only reference systems finished: say so, keep the rest
            section.text.append(f"No TTS table for {corpus}: {exc}")
        records = []
        for system in order:
            s = inputs.score(group[group["method"].astype(str) == system])
            for key in [k for k in s.value if k.startswith("recall.")]:
                records.append({"method": system, "class": key.removeprefix("recall."), "recall": s.value[key],
                                "low": s.low[key], "high": s.high[key]})
        if records:
            names = {m: f"{m} (ref.)" if m in references else m for m in order}
            section.figures.append(ReportFigure(
                f"tts_emotion_accuracy{suffix}",
                f"Emotion accuracy per intended emotion{where}: the judge's recall of each emotion in each system's "
                "speech (mean over seeds), one panel per emotion; point = recall, whisker = bootstrap 95% CI "
                "over held-out utterances. (ref.) = reference system. "
                + ST.caption_note([m for m in order if m not in references]),
                F.per_class_recall_figure(pd.DataFrame(records), inputs.styles, xlabel="judge recall",
                                          order=list(reversed(order)), names=names, ylabel="system")))
        shows, text, speaker, seed = _showcase_rows(inputs, group, [m for m in order if m != "resynthesis"])
        if shows:
            section.figures.append(ReportFigure(
                f"tts_mel_showcase{suffix}",
                f"Log-mel spectrograms of one held-out sentence, \"{text}\", for speaker {speaker}{where} (seed "
                f"{seed}) in each emotion: rows = systems (ground_truth = the real recordings, where the corpus has "
                "that sentence in that emotion), columns = intended emotion; one colour scale for all panels.",
                F.mel_showcase_figure(shows), wide=True))
    return section
