"""The report's opening section: the papers' claims and their verdicts on this suite's records.

Every shipped claim (``benchmark/claims/*.yaml``) is evaluated by
:mod:`benchmark.claims` on the suite's SER cells, with the same paired
statistics as the leaderboards; a claim whose methods or protocol the suite
lacks is listed as inconclusive with what is missing.
"""
from __future__ import annotations

import pandas as pd

from benchmark.report.content import ReportTable, Section
from benchmark.report.inputs import ReportInputs


def build(inputs: ReportInputs) -> Section | None:
    """The claims section of the suite's SER cells (the verdicts ``inputs.claims`` hands over, if given)."""
    if inputs.ser.empty:
        return None
    return claims_section(inputs.ser, inputs.tracking_uri, evaluated=inputs.claims() if inputs.claims else None)


def claims_section(cells: pd.DataFrame, tracking_uri: str, claims: list | None = None, *,
                   evaluated: list | None = None) -> Section | None:
    """A table of verdicts (one row per claim) and one of every comparison behind them; None for a suite
    without SER cells (e.g. TTS cells only), which no claim is about. ``evaluated``: the ClaimResults of
    ``claims`` on ``cells``, evaluated elsewhere (else here)."""
    from benchmark.claims import evaluate_claims
    from benchmark.claims.board import claim_notes, claims_table, comparisons_table

    if cells.empty:
        return None

    if evaluated is None:
        evaluated = evaluate_claims(cells, tracking_uri, claims)
    counts = pd.Series([r.verdict for r in evaluated]).value_counts()
    summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in ("supported", "contradicted", "inconclusive"))
    values = pd.DataFrame([r.row() for r in evaluated])
    return Section("claims", "Claims", [
        "What the three source papers claim, each tested on this suite's records as a declarative check "
        f"(benchmark/claims/*.yaml; docs/claims.md): {summary}. A verdict is about this suite's data and "
        "budget (synthetic speech, short training), not about the papers' own experiments."],
        tables=[ReportTable("claims", "The papers' claims: verdict, effect (method - baseline) [95% CI], p and "
                                      "the minimum detectable effect (MDE)",
                            claims_table(evaluated).drop(columns=["Statement"]), claim_notes(evaluated), values),
                ReportTable("claim_comparisons", "Every comparison behind the claims",
                            comparisons_table(evaluated), [])])
