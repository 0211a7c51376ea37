"""`emobench report`: a self-contained HTML report and a LaTeX folder from a suite's MLflow records.

    from benchmark.report import build_report
    result = build_report("default", tracking_uri="sqlite:///mlflow.db")
    result.html      # reports/out/default/report.html (one file, opens offline)
    result.latex     # reports/out/default/latex/ (main.tex, tables/*.tex, figures/*.pdf)

Modules: ``sections`` holds one module per section (registered in report
order in ``sections.SECTIONS``), each computing what it shows from the
predictions tables and embeddings that ``inputs.ReportInputs`` hands it;
``provenance`` writes the top-of-report notes and the provenance table,
``formatting`` how numbers are printed, ``figures`` draws, ``placement`` puts
crowded figures in the main text or the appendix, and ``html`` and ``latex``
write the same :class:`~benchmark.report.content.ReportContent` out.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from benchmark.errors import ConfigError, EmobenchError
from benchmark.suite import DEFAULT_TRACKING_URI
from benchmark.report.content import ReportContent, Section

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("reports") / "out"
PROJECTIONS = ("auto", "pca", "tsne")   # how the projection section maps test embeddings to 2-D


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

    from benchmark.leaderboard.definition import suite_tracking_uri

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
            projection: str = "auto", progress: bool = True, claims: Callable[[], list] | None = None,
            on_section: Callable[[Section], None] | None = None) -> ReportContent:
    """Compute everything the report shows for ``suite`` from its MLflow records.

    ``claims``: returns the shipped claims evaluated on the suite's cells (``evaluate_claims``), for a caller
    that evaluates them anyway in another process (publishing, for the claims board); the claims section is
    then built after the others, so that waiting for them costs nothing, and shown first as always.
    ``on_section``: called with each section as soon as it is built (in build order)."""
    from benchmark import results
    from benchmark.report.inputs import MIN_BOOTSTRAP, ReportInputs
    from benchmark.report.provenance import provenance, synthetic_notes
    from benchmark.report.sections import section_builders
    from benchmark.report.style import method_styles

    if projection not in PROJECTIONS:
        raise ConfigError(f"projection: expected one of {', '.join(PROJECTIONS)}, got {projection!r}")
    if n_bootstrap < MIN_BOOTSTRAP:
        raise ConfigError(f"bootstrap: at least {MIN_BOOTSTRAP} resamples for a 95% interval, got {n_bootstrap}")

    cells = results.load_cells(tracking_uri, suite)
    if cells.empty:
        raise EmobenchError(f"suite {suite!r}: no finished cell runs at {tracking_uri}; "
                            f"run `emobench run {suite}` first")

    # One colour per method or system across every figure. SER sections read the SER cells only; TTS
    # cells (judged by a classifier, not by their method) have their own section (benchmark.report.inputs).
    styles = method_styles(cells["method"].astype(str).unique())
    inputs = ReportInputs(cells, tracking_uri, suite, n_bootstrap=n_bootstrap, seed=seed,
                          colors={m: s.colour for m, s in styles.items()}, styles=styles, projection=projection,
                          claims=claims)
    steps = list(enumerate(section_builders()))
    if claims is not None:   # handed over: built last (the other process has had the time), shown first
        steps.sort(key=lambda step: step[1][0] == "claims")
    built: dict[int, Section] = {}
    for order, (name, build) in tqdm(steps, desc=f"report {suite}", unit="section", disable=not progress):
        section = build(inputs)
        if section is not None:
            built[order] = section
            if on_section is not None:
                on_section(section)
        else:
            log.info("report %s: no data for the %s section", suite, name)
    return ReportContent(suite=suite, experiment=results.experiment_name(suite), tracking_uri=tracking_uri,
                         notes=synthetic_notes(cells), sections=[built[i] for i in sorted(built)],
                         provenance=provenance(cells))


def build_report(suite: str, tracking_uri: str = DEFAULT_TRACKING_URI, out: Path | str | None = None, *,
                 n_bootstrap: int = 1000, seed: int = 0, projection: str = "auto",
                 progress: bool = True, n_jobs: int = 1, claims: Callable[[], list] | None = None) -> ReportResult:
    """Write ``<out>/report.html`` and ``<out>/latex/`` for ``suite`` (default out: reports/out/<suite>).

    ``n_jobs`` processes serialise the figures (SVG for the HTML, PDF for LaTeX); same bytes as one.
    ``claims``: the claims' verdicts evaluated elsewhere (see :func:`collect`).
    """
    from benchmark.report.figures import BackgroundRenderer
    from benchmark.report.html import write_html
    from benchmark.report.latex import write_latex

    out = Path(out) if out is not None else DEFAULT_OUT / suite
    # each section's figures are rendered while the next sections are built (with n_jobs > 1)
    renderer = BackgroundRenderer(("svg", "pdf"), n_jobs=n_jobs)
    keys: list[str] = []   # the figures' keys in the order they were built (and submitted)

    def render_section(section: Section) -> None:
        keys.extend(f.key for f in section.figures)
        renderer.submit([f.figure for f in section.figures])

    content = collect(suite, tracking_uri, n_bootstrap=n_bootstrap, seed=seed, projection=projection,
                      progress=progress, claims=claims, on_section=render_section)
    rendered = dict(zip(keys, renderer.result()))
    html = write_html(content, out / "report.html", {key: r["svg"] for key, r in rendered.items()})
    files = write_latex(content, out / "latex", {key: r["pdf"] for key, r in rendered.items()})
    return ReportResult(html=html, latex=out / "latex", content=content, files={"html": [html], **files})


__all__ = ["ReportResult", "build_report", "collect", "resolve_suite"]
