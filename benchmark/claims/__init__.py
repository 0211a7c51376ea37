"""The papers' claims as declarative checks: ``benchmark/claims/*.yaml``, evaluated from a suite's records.

    from benchmark.claims import evaluate_claims, load_claims
    results = evaluate_claims(cells, tracking_uri)          # every shipped claim
    [r.verdict for r in results]                            # supported / contradicted / inconclusive

``spec`` validates the claim files, ``evaluate`` computes effects, CIs, p and
minimum detectable effects with :mod:`benchmark.metrics.stacked`, ``board``
renders them as the ``claims`` leaderboard. See docs/claims.md.
"""
from __future__ import annotations

from benchmark.claims.evaluate import (CONTRADICTED, INCONCLUSIVE, SUPPORTED, ClaimResult, Comparison,
                                       evaluate_claim, evaluate_claims)
from benchmark.claims.spec import CLAIMS_DIR, ClaimSpec, list_claims, load_claim, load_claims, parse_claim

__all__ = ["CLAIMS_DIR", "ClaimSpec", "ClaimResult", "Comparison", "SUPPORTED", "CONTRADICTED", "INCONCLUSIVE",
           "evaluate_claim", "evaluate_claims", "list_claims", "load_claim", "load_claims", "parse_claim"]
