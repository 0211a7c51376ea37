"""Regenerate the figure gallery: a PNG of every report figure under docs/gallery/ and docs/figures.md.

    python docs/make_gallery.py                       # runs docs/gallery/suite.yaml into a temp store first
    python docs/make_gallery.py --suite default --tracking-uri sqlite:///mlflow.db   # an existing store

The gallery suite (docs/gallery/suite.yaml) trains all 19 registered methods for one or two epochs on a
small embedded corpus (6-15 min from scratch on 2 shared cores): every figure is drawn at full crowding, but the
numbers mean nothing. Point ``--suite``/``--tracking-uri`` at a finished default-suite store to render
the default suite's figures instead. The PNGs are the figures the report writes as PDF/SVG, at 200 dpi.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))   # run from a checkout without installing

from benchmark.report import collect  # noqa: E402
from benchmark.report.figures import COLUMN_WIDTH_IN, MIN_FONT_PT, TEXT_WIDTH_IN, render_figures  # noqa: E402
from benchmark.report.style import FAMILIES, PAPER_METHODS  # noqa: E402

GALLERY_SUITE = DOCS / "gallery" / "suite.yaml"


def _run_suite(suite: Path, tracking_uri: str) -> None:
    import yaml

    from benchmark import runner
    from benchmark.suite import parse_suite

    data = yaml.safe_load(suite.read_text())
    data["tracking"] = {**(data.get("tracking") or {}), "uri": tracking_uri}
    runner.run_suite(parse_suite(data, str(suite)), n_jobs=1, progress=True)


def _family_table() -> list[str]:
    lines = ["| family | methods (in marker order) | line |", "|---|---|---|"]
    for family in FAMILIES:
        line = "solid" if family.linestyle == "-" else "dashed pattern"
        members = ", ".join(f"**{m}**" if m in PAPER_METHODS else m for m in family.members)
        lines.append(f"| {family.label}{' (paper)' if family.paper else ''} | {members} | {line} |")
    return lines


def write_gallery(suite: str, tracking_uri: str, out: Path, *, n_bootstrap: int, n_jobs: int) -> Path:
    """Render every figure of ``suite``'s report as ``out/<key>.png``; write ``docs/figures.md``; return it."""
    content = collect(suite, tracking_uri, n_bootstrap=n_bootstrap, progress=True)
    figures = content.figures()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    rendered = render_figures([f.figure for f in figures], ("png",), n_jobs=n_jobs)
    for fig, data in zip(figures, rendered):
        (out / f"{fig.key}.png").write_bytes(data["png"])
    doc = DOCS / "figures.md"
    relative = out.relative_to(DOCS) if out.is_relative_to(DOCS) else out
    if content.suite == "gallery":
        source = ("the gallery suite (`docs/gallery/suite.yaml`: the 19 methods trained from scratch, i.e. every "
                  "registered one but the two frozen pretrained-encoder probes, which need a Whisper encoder, for "
                  "one or two epochs on a 360-utterance embedded corpus, every protocol kind and a tiny TTS grid; "
                  "6.3 min (15 min while other jobs shared the cores) "
                  "from scratch on the shared 2-core machine). Its numbers mean nothing: the gallery shows layout, "
                  "styles and legends at full crowding. For the default suite's own figures run "
                  "`python docs/make_gallery.py --suite default --tracking-uri URI` on a finished default store")
    else:
        source = f"the `{content.suite}` suite's store"
    lines = ["# Report figures", "",
             f"Every figure the report draws ({len(figures)} here), rendered as PNG by `python docs/make_gallery.py` "
             f"from {source}. Regenerate after changing `benchmark/report/figures.py`, `style.py` or "
             "`placement.py`.", "",
             "## How to read them", "",
             f"- Sizes are a paper's: {COLUMN_WIDTH_IN} in (one column) or {TEXT_WIDTH_IN} in (text width, "
             f"`figure*`) wide; no text is smaller than {MIN_FONT_PT} pt at that size (`tests/test_figures.py` "
             "checks every figure).",
             "- Each method family has one hue and one line style, each member its own marker (and shade and bar "
             "hatch), so members stay apart in greyscale; the papers' methods are solid, larger, drawn on top, "
             "bold where named on an axis and named in the captions. A variant `base/variant` keeps its base's "
             "family and shade with a marker of its own and a dotted line; any other method gets a distinct "
             "style from a pool of unused hues and markers (`benchmark/report/style.py`).",
             "- Crowded figures come twice: `<key>` for the main text (the papers' methods against the best "
             "method of each baseline family by UA on the main protocol) and `<key>_full` with every method for "
             "the appendix (`benchmark/report/placement.py`). The HTML report shows the main one first; "
             "`latex/main.tex` inputs the full ones, and the per-method figures of methods outside the main "
             "selection, in its appendix.",
             "- The speaker probe has one chart per protocol, each with its own chance level in its caption.", "",
             *_family_table(), "",
             "## Drawing a new figure in the same styles", "",
             "```python",
             "from benchmark.report.style import method_style, line_kwargs, caption_note",
             "from benchmark.report.placement import main_and_full",
             "colour, marker, linestyle = method_style(\"ssvae\")[:3]      # or inputs.styles[name] in a section",
             "ax.plot(x, y, label=name, **line_kwargs(inputs.styles[name]))  # papers' methods thicker, on top",
             "figures = main_and_full(\"my_key\", caption, lambda shown: draw(table[table.method.isin(shown)]),",
             "                        methods, inputs.main_scores(), criterion=\"UA on the main protocol\")",
             "```", "",
             "`ReportInputs.styles` is built once per report over every method it shows "
             "(`style.method_styles`: no two methods share colour and marker); `figures.style()` applies the "
             "fonts and sizes; `tests/test_figures.py` holds the checks a new figure should pass.", "",
             "## Gallery", ""]
    for section in content.sections:
        if not section.figures:
            continue
        lines += [f"### {section.title}", ""]
        for fig in section.figures:
            where = "appendix" if fig.appendix else "main text"
            width = "text width" if fig.wide else "column width"
            lines += [f"**`{fig.key}`** ({where}, {width}). {fig.caption}", "",
                      f"![{fig.key}]({relative}/{fig.key}.png)", ""]
    doc.write_text("\n".join(lines), encoding="utf-8")
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default=None, help="a suite already run in --tracking-uri (default: run the "
                                                      "gallery suite into a temporary store)")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--out", type=Path, default=DOCS / "gallery")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.suite is None:
            uri = args.tracking_uri or f"sqlite:///{Path(tmp) / 'mlflow.db'}"
            _run_suite(GALLERY_SUITE, uri)
            suite = str(GALLERY_SUITE)
        else:
            suite, uri = args.suite, args.tracking_uri
        from benchmark.report import resolve_suite

        name, uri = resolve_suite(suite, uri)
        doc = write_gallery(name, uri, args.out, n_bootstrap=args.bootstrap, n_jobs=args.jobs)
    print(f"wrote {doc} and {len(list(args.out.glob('*.png')))} PNGs in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
