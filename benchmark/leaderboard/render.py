"""Writing a leaderboard out: Markdown, CSV, HTML and LaTeX (booktabs), ``snapshot.json``, and the README splice.

The files go into ``leaderboards/<name>/``; the CSV and ``snapshot.json`` keep the run ids behind every
row, so ``emobench compare`` can re-test a snapshot. The table printed in every format is
:func:`display_table`'s, and the notes under it :func:`notes`' (what the numbers are, how they were tested).
"""
from __future__ import annotations

import functools
import html as html_lib
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark import results
from benchmark.errors import EmobenchError
from benchmark.leaderboard.build import SD_MARK, SI_MARK, Leaderboard
from benchmark.leaderboard.columns import PROBE_METRICS, format_metric, is_prediction_metric, is_tts_metric
from benchmark.metrics.registry import METRICS

TIE_MARK = "≈"
# Beside a method whose cells include one that stopped at the epoch cap while validation UA still improved.
CONVERGENCE_MARK = "†"
CONVERGENCE_NOTE = (f"{CONVERGENCE_MARK} = at least one of the method's cells stopped at its epoch cap while "
                    "validation UA was still improving (MLflow tag convergence.still_improving): more epochs "
                    "might change its numbers.")
REFERENCE_MARK = "ref."   # the rank column of a reference row


def _pct(value: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.1f}"


def _rank_text(entry: dict) -> str:
    return REFERENCE_MARK if entry.get("reference") else str(entry["rank"])


def display_table(board: Leaderboard) -> pd.DataFrame:
    """The table as printed (Markdown, HTML, LaTeX): percentages, CIs, marks."""
    rows = []
    # A paired bootstrap cannot give p below 2/(n+1): print that floor as a bound, not as the p-value.
    floor = 2 / (board.definition.n_bootstrap + 1) if board.definition.significance.test == "paired_bootstrap" else 0
    leader = board.leader
    d = board.definition
    for e in board.entries.to_dict("records"):
        mark = CONVERGENCE_MARK if e.get("still_improving") is True else ""
        row = {"Rank": _rank_text(e), "Method": e["method"] + mark}
        for m in d.columns:
            value = e[m]
            if is_prediction_metric(m) or is_tts_metric(m):
                f = functools.partial(format_metric, m)
                text = f"{f(value)} [{f(e[f'{m}_low'])}, {f(e[f'{m}_high'])}]"
                if m == d.rank_by and e["seeds"] > 1:
                    text = f"{f(value)} ± {f(e[f'{m}_sd'])} [{f(e[f'{m}_low'])}, {f(e[f'{m}_high'])}]"
            else:
                text = _pct(value)
            row[d.header(m)] = text
        row["Seeds"] = str(e["seeds"])
        if d.significance.power is not None:
            row["n"] = str(e["n_test"])
            row["MDD vs leader"] = _pct(e.get("mdd_vs_leader"))
        row["Split"] = e["speaker_independent"]
        if e.get("reference"):
            row["vs leader"] = "reference"
        elif e["method"] == leader:   # the first ranked row
            row["vs leader"] = "leader"
        elif e["tied_with_leader"]:
            row["vs leader"] = f"{TIE_MARK} (p {format_p(e['p_vs_leader'], floor)})"
        else:
            row["vs leader"] = f"p {format_p(e['p_vs_leader'], floor)}"
        rows.append(row)
    return pd.DataFrame(rows)


def format_p(p: float, floor: float = 0.0) -> str:
    """"= 0.123", "< 0.001", or "≤ 0.002" at the smallest p-value a paired bootstrap can reach (``floor``)."""
    if p is None or not np.isfinite(p):
        return "n/a"
    if floor and p <= floor * (1 + 1e-9):
        return f"≤ {math.ceil(floor * 1000) / 1000:.3f}"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def notes(board: Leaderboard) -> list[str]:
    """The notes printed under the table: what the numbers are, how methods were tested, the marks."""
    d = board.definition
    how = ("each metric over the pooled predictions of all folds of a seed" if d.aggregate == "pooled"
           else "the mean over folds of each fold's metric")
    test = ("paired bootstrap of the seed-mean difference on the same resampled test utterances"
            if d.significance.test == "paired_bootstrap"
            else "exact McNemar test on per-utterance correctness, per common seed, largest p-value")
    within = ", within each fold" if d.aggregate == "fold_mean" else ""
    tts = [c for c in d.columns if is_tts_metric(c)]
    unit = "Values in percent unless the column names another unit" if tts else "Values in percent"
    lines = [
        (f"{unit}: {how}, mean over seeds (± standard deviation over seeds for "
         f"{d.label(d.rank_by)}); [low, high] = 95% bootstrap CI over test utterances "
         f"({d.n_bootstrap} resamples{within}; seeds averaged: the same resample is applied to every seed and "
         "the seed mean recomputed)."),
        (f"Ranked by {d.label(d.rank_by)}. {TIE_MARK} = not significantly different from the leader at "
         f"alpha = {d.significance.alpha} ({test}, {d.label(d.rank_by)})."),
        f"{SI_MARK} = speaker-independent split (no test speaker in training); {SD_MARK} = speaker-dependent.",
    ]
    if tts:
        what = "; ".join(f"{d.label(c)} = {METRICS.get(c).description} ({METRICS.get(c).better})" for c in tts)
        lines.append(f"TTS columns, recomputed from each cell's {results.TTS_UTTERANCES_ARTIFACT} (never ranked on): "
                     f"{what}; per seed, then the mean over seeds; their [low, high] come from the same resamples "
                     "of test utterances as the other columns.")
    if d.significance.power is not None:
        lines.append(f"n = test utterances each system is scored on (per seed). MDD vs leader = minimum detectable "
                     f"difference in {d.label(d.rank_by)}, in points: the smallest true difference from the leader "
                     f"that a paired test (McNemar, two-sided, alpha = {d.significance.alpha}) detects with "
                     f"probability {d.significance.power} on n paired utterances, at the share of utterances on "
                     "which exactly one of the two is judged correct (their observed discordance, mean over "
                     "seeds; Connor's normal approximation, benchmark.metrics.stacked.mcnemar_mdd); a "
                     "difference smaller than it may exist unseen.")
    if "still_improving" in board.entries.columns and board.entries["still_improving"].any():
        lines.append(CONVERGENCE_NOTE)
    if d.references:
        lines.append(f"Reference rows ({', '.join(d.references)}) are shown below the ranked methods for "
                     "comparison: never ranked, never the leader, not tested.")
    if any(m in PROBE_METRICS for m in d.columns):
        lines.append("Speaker probe: accuracy of a linear classifier predicting the speaker from the frozen test "
                     "embeddings (recomputed from the logged embeddings), mean over cells; lower = less speaker "
                     "identity leaks. Chance = the majority-speaker rate.")
    lines.extend(board.notes)
    return lines


def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_text(text: str) -> str:
    """Definition text (title, description) as Markdown: HTML escaped, as the HTML output does, since
    Markdown renderers pass raw HTML through (a ``<script>`` in a title must stay text)."""
    return html_lib.escape(text, quote=False)


def to_markdown(board: Leaderboard) -> str:
    """The board as a Markdown page: heading, description, provenance line, table, notes."""
    table = display_table(board)
    lines = [f"# {_md_text(' '.join(board.definition.heading.split()))}", ""]
    if board.definition.description:
        lines += [_md_text(board.definition.description.strip()), ""]
    lines += [f"Suite `{board.definition.suite}`, protocol `{board.definition.protocol}`"
              + (f", corpus `{board.definition.corpus}`" if board.definition.corpus else "")
              + f"; {board.n_cells} finished cell runs; generated {board.generated} from `{board.tracking_uri}`.", ""]
    lines.append("| " + " | ".join(_md_cell(c) for c in table.columns) + " |")
    lines.append("|" + "|".join("---" if i < 2 else "---:" for i in range(len(table.columns))) + "|")
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    lines += [""] + [f"- {n}" for n in notes(board)]
    return "\n".join(lines) + "\n"


_TEX = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
        "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
        "±": r"$\pm$", "≈": r"$\approx$", "≤": r"$\leq$", "–": "--", "<": r"$<$", ">": r"$>$",
        "†": r"\textsuperscript{\dag}"}
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX))


def tex_escape(text: object) -> str:
    """``text`` as LaTeX source: special characters escaped, ± ≈ as math."""
    return _TEX_RE.sub(lambda m: _TEX[m.group(0)], str(text))


def to_latex(board: Leaderboard) -> str:
    """A booktabs ``table`` float (``\\input`` it; needs ``\\usepackage{booktabs}``)."""
    return latex_float(display_table(board), board.definition.heading, board.definition.name, notes(board),
                       "rl", "r", "numbers recomputed from the runs' predictions tables")


def latex_float(table: pd.DataFrame, heading: str, name: str, note_lines: list[str], first_columns: str,
                other_columns: str, provenance: str) -> str:
    """A booktabs ``table*`` float of ``table`` (every cell already text) with its notes beneath; the
    leaderboards' and the claims board's LaTeX. ``first_columns`` aligns the first two columns,
    ``other_columns`` each of the rest."""
    label = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")
    lines = [f"% generated by `emobench leaderboard`; {provenance}",
             r"\begin{table*}[tbp]", r"\centering", r"\small",
             rf"\caption{{{tex_escape(heading)}}}", rf"\label{{tab:leaderboard-{label}}}",
             rf"\begin{{tabular}}{{{first_columns}{other_columns * (len(table.columns) - 2)}}}", r"\toprule",
             " & ".join(tex_escape(c) for c in table.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(tex_escape(v) for v in row) + r" \\" for row in table.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip",
              r"\parbox{0.95\linewidth}{\footnotesize " + " ".join(tex_escape(n) for n in note_lines) + "}",
              r"\end{table*}"]
    return "\n".join(lines) + "\n"


# The HTML pages' stylesheet (the claims board's page uses it too, so both look alike).
HTML_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:14px}th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}
th{border-bottom:2px solid #444}td:nth-child(2),th:nth-child(2){text-align:left}
tr:first-child td{font-weight:600}.notes{font-size:13px;color:#555;max-width:60em}"""


def to_html(board: Leaderboard) -> str:
    """One self-contained HTML page (no external resources)."""
    table = display_table(board).to_html(index=False, escape=True, border=0, classes="leaderboard")
    esc = html_lib.escape
    d = board.definition
    meta = (f"Suite <code>{esc(d.suite)}</code>, protocol <code>{esc(d.protocol)}</code>"
            + (f", corpus <code>{esc(d.corpus)}</code>" if d.corpus else "")
            + f"; {board.n_cells} finished cell runs; generated {esc(board.generated)} from "
              f"<code>{esc(board.tracking_uri)}</code>.")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{esc(d.heading)}</title>",
        f"<style>{HTML_STYLE}</style></head><body>", f"<h1>{esc(d.heading)}</h1>",
        f"<p>{esc(d.description.strip())}</p>" if d.description else "", f"<p>{meta}</p>", table,
        '<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in notes(board)) + "</ul>",
        "</body></html>", ""])


def write(board: Leaderboard, out: Path | str | None = None) -> dict[str, Path]:
    """Write leaderboard.{md,csv,html,tex} and snapshot.json into ``out`` (default leaderboards/<name>/)."""
    if not isinstance(board, Leaderboard):   # the claims board writes its own (benchmark.claims.board)
        return board.write(out)
    out = Path(out) if out is not None else Path("leaderboards") / board.definition.name
    out.mkdir(parents=True, exist_ok=True)
    files = {"md": out / "leaderboard.md", "csv": out / "leaderboard.csv", "html": out / "leaderboard.html",
             "tex": out / "leaderboard.tex", "json": out / "snapshot.json"}
    files["md"].write_text(to_markdown(board), encoding="utf-8")
    board.to_csv_frame().to_csv(files["csv"], index=False)
    files["html"].write_text(to_html(board), encoding="utf-8")
    files["tex"].write_text(to_latex(board), encoding="utf-8")
    snapshot = {"definition": board.definition.model_dump(), "tracking_uri": board.tracking_uri,
                "generated": board.generated, "code_version": board.code_version, "n_cells": board.n_cells,
                "notes": notes(board),
                "entries": json.loads(board.entries.to_json(orient="records"))}
    files["json"].write_text(json.dumps(snapshot, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return files


def embed_in_markdown(path: Path | str, name: str, markdown: str) -> None:
    """Replace the block between ``<!-- leaderboard:NAME -->`` and ``<!-- /leaderboard:NAME -->``
    in ``path`` (e.g. the README) with ``markdown``, so that a published table is produced by the
    suite, never typed by hand. The rest of the file is left byte for byte as it was."""
    path = Path(path)
    if not path.is_file():
        raise EmobenchError(f"{path}: no such file to write leaderboard {name!r} into")
    text = path.read_text(encoding="utf-8")
    start, end = f"<!-- leaderboard:{name} -->", f"<!-- /leaderboard:{name} -->"
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise EmobenchError(f"{path}: no block '{start}' ... '{end}' to write leaderboard {name!r} into")
    # The board's own title becomes a level-3 heading: it sits inside the host file's sections.
    body = "\n".join("###" + line[1:] if line.startswith("# ") else line for line in markdown.strip().splitlines())
    path.write_text(text[: i + len(start)] + "\n" + body + "\n" + text[j:], encoding="utf-8")
