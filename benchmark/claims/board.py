"""The ``claims`` leaderboard: every claim's verdict, rendered like the other boards.

Defined in ``leaderboards/claims.yaml``::

    kind: claims
    title: The papers' claims (embedded corpus)
    suite: default
    claims: all            # or a list of claim ids / YAML paths

``emobench leaderboard claims`` (and the publish step of ``emobench run``)
writes ``leaderboards/claims/leaderboard.{md,csv,html,tex}`` and
``snapshot.json``; ``emobench claims SUITE`` prints the same table.
"""
from __future__ import annotations

import html as html_lib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict

from benchmark.claims.evaluate import ClaimResult, Comparison, display_value, evaluate_claims
from benchmark.claims.spec import ClaimSpec, in_points, load_claims
from benchmark.errors import validate_config

# Plain words (no symbols): the same tables go into LaTeX.
VERDICT_MARK = {"supported": "SUPPORTED", "contradicted": "CONTRADICTED", "inconclusive": "inconclusive"}


class ClaimsBoardDef(BaseModel):
    """A claims board: which suite's records, which claims."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["claims"] = "claims"
    name: str = ""
    title: str | None = None
    description: str = ""
    suite: str
    claims: list[str] | Literal["all"] = "all"

    @property
    def heading(self) -> str:
        return self.title or f"Claims ({self.suite})"


def parse_board(data: dict[str, Any], name: str, source: str) -> ClaimsBoardDef:
    definition = validate_config(ClaimsBoardDef, data, source, "claims board definition")
    definition.name = definition.name or name
    load_claims(definition.claims)   # a board naming an unknown claim is an error now, not at publish time
    return definition


# ----------------------------------------------------------------------------- formatting


def effect_text(claim: ClaimSpec, c: Comparison | None) -> str:
    """"+12.3 [4.1, 20.2] pts" (rates), "-0.012 [-0.020, -0.004]" (distances), per doubling for trends."""
    if c is None or not c.computed:
        return "–"
    unit = " pts" if in_points(c.metric) else ""
    per = f"/doubling of {claim.trend}" if claim.trend else ""
    return (f"{display_value(c.metric, c.effect, True)} [{display_value(c.metric, c.low, True)}, "
            f"{display_value(c.metric, c.high, True)}]{unit}{per}")


def p_text(p: float, n_boot: int) -> str:
    from benchmark.leaderboard.render import format_p

    return format_p(p, 2 / (n_boot + 1)).removeprefix("= ")


def comparison_label(claim: ClaimSpec, c: Comparison) -> str:
    return f"{c.method} vs {c.baseline}: {c.metric}"


def claims_table(results: list[ClaimResult]) -> pd.DataFrame:
    """One row per claim: its verdict and the deciding comparison."""
    rows = []
    for r in results:
        c, claim = r.headline, r.claim
        missing = list(dict.fromkeys(x.reason for x in r.comparisons if x.reason))   # once per reason
        rows.append({
            "Claim": claim.id, "Statement": claim.statement.strip(), "Verdict": VERDICT_MARK[r.verdict],
            "Deciding comparison": comparison_label(claim, c) if c else "–",
            "Effect [95% CI]": effect_text(claim, c),
            "p": p_text(c.p, claim.n_bootstrap) if c and c.computed else "–",
            "MDE": (display_value(c.metric, c.mde) + (" pts" if in_points(c.metric) else "")) if c and c.computed
            else "–",
            "Seeds": str(c.seeds) if c and c.computed else "–",
            "Split": c.split if c and c.computed else "–",
            "Test utt.": str(c.n_test) if c and c.computed else "–",
            "Missing": "; ".join(missing) if missing else ""})
    return pd.DataFrame(rows)


def comparisons_table(results: list[ClaimResult]) -> pd.DataFrame:
    """One row per comparison of every claim."""
    rows = []
    for r in results:
        for c in r.comparisons:
            rows.append({"Claim": r.claim.id, "Method": c.method, "Baseline": c.baseline, "Metric": c.metric,
                         "Verdict": c.verdict if c.computed else f"inconclusive ({c.reason})",
                         "Method value": "–" if r.claim.trend else display_value(c.metric, c.method_value),
                         "Baseline value": "–" if r.claim.trend else display_value(c.metric, c.baseline_value),
                         "Effect [95% CI]": effect_text(r.claim, c),
                         "p": p_text(c.p, r.claim.n_bootstrap) if c.computed else "–",
                         "MDE": display_value(c.metric, c.mde) if c.computed else "–",
                         "Split": c.split if c.computed else "–"})
    return pd.DataFrame(rows)


def claim_notes(results: list[ClaimResult]) -> list[str]:
    alpha = sorted({r.claim.alpha for r in results}) or [0.05]
    power = sorted({r.claim.power for r in results}) or [0.8]
    notes = [
        "Every number is recomputed from the cells' predictions tables (speaker probe and latent distances: from "
        "their test embeddings). Effect = method - baseline on the same test utterances, mean over the seeds "
        "both ran; rates in percentage points.",
        f"[low, high] = {100 * (1 - alpha[0]):g}% paired-bootstrap CI (the same resample of the test utterances "
        "for both methods and every seed); p = paired-bootstrap p of \"effect = the claim's boundary\" (its margin).",
        "supported = the whole CI on the claimed side of the boundary; contradicted = the whole CI on the other "
        "side; inconclusive = the CI straddles it, or data is missing (named). A claim over several comparisons "
        "(baselines, metrics) needs every one (require: all) unless it says any; its deciding comparison is shown.",
        "Split: SI = speaker-independent (no test speaker in training), SD = speaker-dependent.",
        f"MDE = minimum detectable effect at this data size: (z_(1-alpha/2) + z_power) x SE, alpha {alpha[0]:g}, "
        f"power {power[0]:g}, SE = sd of the resampled effects. An inconclusive claim whose |effect| is below its "
        "MDE needs more data (seeds, test utterances), not a different conclusion.",
    ]
    for r in results:
        notes += [f"{r.claim.id}: {n}" for n in r.notes]
    return notes


# ----------------------------------------------------------------------------- the board


@dataclass
class ClaimsBoard:
    definition: ClaimsBoardDef
    results: list[ClaimResult]
    tracking_uri: str
    n_cells: int
    generated: str = ""
    code_version: str = ""
    notes: list[str] = field(default_factory=list)

    def to_csv_frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.row() for r in self.results]).assign(suite=self.definition.suite,
                                                                   tracking_uri=self.tracking_uri)

    def to_markdown(self) -> str:
        d = self.definition
        lines = [f"# {d.heading}", ""]
        if d.description:
            lines += [d.description.strip(), ""]
        lines += [f"Suite `{d.suite}`; {self.n_cells} finished cell runs; generated {self.generated} from "
                  f"`{self.tracking_uri}`.", ""]
        lines += _md_table(claims_table(self.results).drop(columns=["Statement"]))
        lines += ["", "## Claims", ""]
        lines += [f"- **{r.claim.id}** ({r.claim.paper}): {r.claim.statement.strip()}" for r in self.results]
        lines += ["", "## Every comparison", ""] + _md_table(comparisons_table(self.results))
        lines += [""] + [f"- {n}" for n in claim_notes(self.results) + self.notes]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        from benchmark.leaderboard.render import HTML_STYLE

        esc = html_lib.escape
        d = self.definition
        table = claims_table(self.results).to_html(index=False, escape=True, border=0, classes="leaderboard")
        detail = comparisons_table(self.results).to_html(index=False, escape=True, border=0, classes="leaderboard")
        return "\n".join([
            "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{esc(d.heading)}</title>",
            f"<style>{HTML_STYLE}</style></head><body>", f"<h1>{esc(d.heading)}</h1>",
            f"<p>{esc(d.description.strip())}</p>" if d.description else "",
            f"<p>Suite <code>{esc(d.suite)}</code>; {self.n_cells} finished cell runs; generated "
            f"{esc(self.generated)} from <code>{esc(self.tracking_uri)}</code>.</p>", table,
            "<h2>Every comparison</h2>", detail,
            '<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in claim_notes(self.results) + self.notes)
            + "</ul>", "</body></html>", ""])

    def to_latex(self) -> str:
        from benchmark.leaderboard.render import latex_float

        table = claims_table(self.results).drop(columns=["Statement", "Missing"])
        return latex_float(table, self.definition.heading, self.definition.name, claim_notes(self.results),
                           "ll", "l", "verdicts recomputed from the runs' predictions tables")

    def write(self, out: Path | str | None = None) -> dict[str, Path]:
        """leaderboard.{md,csv,html,tex} and snapshot.json into ``out`` (default leaderboards/<name>/)."""
        out = Path(out) if out is not None else Path("leaderboards") / self.definition.name
        out.mkdir(parents=True, exist_ok=True)
        files = {"md": out / "leaderboard.md", "csv": out / "leaderboard.csv", "html": out / "leaderboard.html",
                 "tex": out / "leaderboard.tex", "json": out / "snapshot.json"}
        files["md"].write_text(self.to_markdown(), encoding="utf-8")
        self.to_csv_frame().to_csv(files["csv"], index=False)
        files["html"].write_text(self.to_html(), encoding="utf-8")
        files["tex"].write_text(self.to_latex(), encoding="utf-8")
        snapshot = {"definition": self.definition.model_dump(), "tracking_uri": self.tracking_uri,
                    "generated": self.generated, "code_version": self.code_version, "n_cells": self.n_cells,
                    "notes": claim_notes(self.results),
                    "claims": json.loads(self.to_csv_frame().to_json(orient="records")),
                    "comparisons": [{"claim": r.claim.id, **_comparison_record(c)} for r in self.results
                                    for c in r.comparisons]}
        files["json"].write_text(json.dumps(snapshot, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return files


def _comparison_record(c: Comparison) -> dict[str, Any]:
    return {k: getattr(c, k) for k in ("method", "baseline", "metric", "verdict", "effect", "low", "high", "se",
                                       "p", "mde", "method_value", "baseline_value", "n_test", "seeds", "cells",
                                       "reason")}


def _md_table(table: pd.DataFrame) -> list[str]:
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in table.columns) + " |",
             "|" + "|".join("---" for _ in table.columns) + "|"]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]


def build_claims_board(definition: ClaimsBoardDef, tracking_uri: str | None = None, *,
                       progress: bool = True) -> ClaimsBoard:
    """Evaluate the board's claims on the suite's finished cells."""
    from benchmark import results
    from benchmark.leaderboard.build import NoCellsError
    from benchmark.leaderboard.definition import suite_tracking_uri
    from benchmark.tracking import code_version

    uri = tracking_uri or suite_tracking_uri(definition.suite)
    cells = results.load_cells(uri, definition.suite)
    if cells.empty:
        raise NoCellsError(f"leaderboard {definition.name}: no finished cell runs of suite {definition.suite!r} at "
                           f"{uri}; run `emobench run {definition.suite}` first")
    evaluated = evaluate_claims(cells, uri, load_claims(definition.claims), progress=progress)
    return ClaimsBoard(definition, evaluated, uri, len(cells), datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                       code_version())
