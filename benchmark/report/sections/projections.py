"""The projection section: a 2-D map of one run's test embeddings per method, by emotion, speaker and language."""
from __future__ import annotations

import pandas as pd

from benchmark.report import figures as F
from benchmark.report import placement as P
from benchmark.report.content import ReportFigure, Section, flag
from benchmark.report.formatting import slug
from benchmark.report.inputs import Embedded, ReportInputs

TSNE_MAX_POINTS = 500   # above this the projection is PCA: t-SNE's cost grows quadratically


def build(inputs: ReportInputs) -> Section | None:
    """One figure per method (``inputs.projection``: auto, pca or tsne); None when no run kept embeddings."""
    from benchmark.report.distances import project_2d

    embedded = inputs.embedded
    if not embedded:
        return None
    section = Section("projection", "Embedding projections", [
        "One run per method, the one whose test set spans the most languages and speakers: each fold and seed "
        "is a different model, so their embedding spaces are never pooled. t-SNE (scikit-learn, exact "
        f"gradients) when the test set has at most {TSNE_MAX_POINTS} utterances, else PCA; embedding "
        "dimensions z-scored first."])
    richest = richest_runs(embedded)
    for name, (row, emb) in richest.items():
        points, how = project_2d(emb["Z"], method=inputs.projection, seed=inputs.seed, max_tsne=TSNE_MAX_POINTS)
        mark = flag(str(row["speaker_independent"]).lower() == "true")
        colourings = {"emotion": emb["y"], "speaker": emb["speakers"], "language": emb["languages"]}
        section.figures.append(ReportFigure(
            f"projection_{slug(name)}",
            f"{how} of the test embeddings of {name} ({row['protocol']}, fold {row['fold']}, seed "
            f"{row['seed']}, {mark}; {len(emb['Z'])} utterances) coloured by emotion, speaker and language.",
            F.projection_figure(points, colourings, f"{name} [{mark}]", axis_name=how), wide=True,
            appendix=P.in_appendix(name, list(richest), inputs.main_scores())))
    return section


def richest_runs(embedded: Embedded) -> dict[str, tuple[pd.Series, dict]]:
    """Per method, the run whose test set spans the most languages, speakers and utterances.

    Ties go to the earliest in ``embedded`` (main protocol, lowest seed, first fold).
    """
    best: dict[str, tuple[tuple, tuple[pd.Series, dict]]] = {}
    for order, (row, emb) in enumerate(embedded):
        rank = (len(set(emb["languages"].tolist())), len(set(emb["speakers"].tolist())), len(emb["Z"]), -order)
        if row["method"] not in best or rank > best[row["method"]][0]:
            best[row["method"]] = (rank, (row, emb))
    return {method: pick for method, (_, pick) in sorted(best.items())}
