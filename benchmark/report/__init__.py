"""`emobench report`: a self-contained HTML report and a LaTeX folder from a suite's MLflow records.

    from benchmark.report import build_report
    result = build_report("default", tracking_uri="sqlite:///mlflow.db")
    result.html      # reports/out/default/report.html (one file, opens offline)
    result.latex     # reports/out/default/latex/ (main.tex, tables/*.tex, figures/*.pdf)

Modules: ``sections`` decides what is shown and computes it from the
predictions tables and embeddings (``claims``, ``ablations`` and
``learning_curves`` are sections of their own modules), ``figures`` draws,
``html`` and ``latex`` write the same :class:`~benchmark.report.content.ReportContent` out.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from benchmark.errors import ConfigError, EmobenchError
from benchmark.suite import DEFAULT_TRACKING_URI
from benchmark.report.content import ReportContent

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("reports") / "out"
PROJECTIONS = ("auto", "pca", "tsne")


@dataclass
class ReportResult:
    html: Path
    latex: Path
    content: ReportContent
    files: dict[str, list[Path]]


def resolve_suite(suite: str, tracking_uri: str | None = None) -> tuple[str, str]:
    """(suite name, tracking URI) for a suite name or a suite YAML path.

    A suite YAML (or a shipped suite's) also supplies its tracking URI unless
    ``tracking_uri`` is given; otherwise the default ``sqlite:///mlflow.db``.
    The YAML is only read, not validated: the report needs the name, not the
    methods (validating would import every method and torch).
    """
    import yaml

    from benchmark.leaderboard import suite_tracking_uri

    path = Path(suite)
    if path.suffix not in (".yaml", ".yml"):
        return suite, tracking_uri or suite_tracking_uri(suite)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the suite config ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ConfigError(f"{path}: a suite config needs a `name`")
    uri = (data.get("tracking") or {}).get("uri") if isinstance(data.get("tracking"), dict) else None
    return data["name"], tracking_uri or uri or DEFAULT_TRACKING_URI


def collect(suite: str, tracking_uri: str = DEFAULT_TRACKING_URI, *, n_bootstrap: int = 1000, seed: int = 0,
            projection: str = "auto", progress: bool = True) -> ReportContent:
    """Compute everything the report shows for ``suite`` from its MLflow records."""
    from benchmark import results
    from benchmark.report import sections as S
    from benchmark.report.ablations import ablation_section
    from benchmark.report.claims import claims_section
    from benchmark.report.learning_curves import learning_curve_section
    from benchmark.report.style import method_styles

    if projection not in PROJECTIONS:
        raise ConfigError(f"projection: expected one of {', '.join(PROJECTIONS)}, got {projection!r}")
    if n_bootstrap < S.MIN_BOOTSTRAP:
        raise ConfigError(f"bootstrap: at least {S.MIN_BOOTSTRAP} resamples for a 95% interval, got {n_bootstrap}")

    cells = results.load_cells(tracking_uri, suite)
    if cells.empty:
        raise EmobenchError(f"suite {suite!r}: no finished cell runs at {tracking_uri}; "
                            f"run `emobench run {suite}` first")

    # SER sections read the SER cells only; TTS cells (judged by a classifier, not by their method) have
    # their own section. One colour per method or system across every figure.
    styles = method_styles(cells["method"].astype(str).unique())
    colors = {m: s.colour for m, s in styles.items()}
    inputs = S.ReportInputs(S.ser_cells(cells), tracking_uri, suite, n_bootstrap=n_bootstrap, seed=seed,
                            colors=colors, styles=styles)
    tts_inputs = S.ReportInputs(S.tts_cells(cells), tracking_uri, suite, n_bootstrap=n_bootstrap, seed=seed,
                                colors=colors, styles=styles)
    main = S.choose_main(inputs.cells)
    embedded = S.embedding_cells(inputs)
    steps = [("claims", lambda: claims_section(inputs.cells, tracking_uri)),
             ("leaderboard", lambda: S.leaderboard_section(inputs)),
             ("ablations", lambda: ablation_section(inputs.cells, tracking_uri, n_bootstrap, seed)),
             ("learning curves", lambda: learning_curve_section(main, tracking_uri, colors)),
             ("confusion matrices", lambda: S.confusion_section(inputs, main)),
             ("per-class recall", lambda: S.recall_section(inputs, main)),
             ("imbalance", lambda: S.imbalance_section(inputs)),
             ("transfer", lambda: S.transfer_section(inputs)),
             ("language distances", lambda: S.language_distance_section(inputs, embedded)),
             ("projections", lambda: S.projection_section(inputs, embedded, projection)),
             ("speaker probe", lambda: S.speaker_probe_section(inputs, embedded)),
             ("TTS", lambda: S.tts_section(tts_inputs))]
    built = []
    for name, step in tqdm(steps, desc=f"report {suite}", unit="section", disable=not progress):
        section = step()
        if section is not None:
            built.append(section)
        else:
            log.info("report %s: no data for the %s section", suite, name)
    return ReportContent(suite=suite, experiment=results.experiment_name(suite), tracking_uri=tracking_uri,
                         notes=S.synthetic_notes(cells), sections=built, provenance=S.provenance(cells))


def build_report(suite: str, tracking_uri: str = DEFAULT_TRACKING_URI, out: Path | str | None = None, *,
                 n_bootstrap: int = 1000, seed: int = 0, projection: str = "auto",
                 progress: bool = True, n_jobs: int = 1) -> ReportResult:
    """Write ``<out>/report.html`` and ``<out>/latex/`` for ``suite`` (default out: reports/out/<suite>).

    ``n_jobs`` processes serialise the figures (SVG for the HTML, PDF for LaTeX); same bytes as one.
    """
    from benchmark.report.figures import render_figures
    from benchmark.report.html import write_html
    from benchmark.report.latex import write_latex

    out = Path(out) if out is not None else DEFAULT_OUT / suite
    content = collect(suite, tracking_uri, n_bootstrap=n_bootstrap, seed=seed, projection=projection,
                      progress=progress)
    figures = content.figures()
    rendered = render_figures([f.figure for f in figures], ("svg", "pdf"), n_jobs=n_jobs)
    html = write_html(content, out / "report.html", {f.key: r["svg"] for f, r in zip(figures, rendered)})
    files = write_latex(content, out / "latex", {f.key: r["pdf"] for f, r in zip(figures, rendered)})
    return ReportResult(html=html, latex=out / "latex", content=content, files={"html": [html], **files})


__all__ = ["ReportResult", "build_report", "collect", "resolve_suite"]
