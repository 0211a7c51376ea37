"""The report as ONE self-contained HTML file.

Figures are embedded as SVG data URIs (vector, and each SVG stays its own
document, so ids inside two figures cannot collide), the CSS is inline and a
Content-Security-Policy forbids every network fetch: the file opens offline,
from a mail attachment or a CI artifact, exactly as it was written.
"""
from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Mapping

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from benchmark import __version__
from benchmark.report.content import FLAG_LEGEND, SYNTHETIC_NOTE, ReportContent
from benchmark.report.figures import to_bytes

TEMPLATES = Path(__file__).parent / "templates"


def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(content: ReportContent, rendered: Mapping[str, bytes] | None = None) -> str:
    """The HTML text of the report; ``rendered``: figure key -> SVG bytes already made (else made here)."""
    rendered = rendered or {}
    images = {fig.key: base64.b64encode(rendered.get(fig.key) or to_bytes(fig.figure, "svg")).decode("ascii")
              for fig in content.figures()}
    template = _environment().get_template("report.html.j2")
    return template.render(content=content, images=images, version=__version__, flag_legend=FLAG_LEGEND,
                           synthetic_note=SYNTHETIC_NOTE, is_number=_is_number)


def _is_number(cell: object) -> bool:
    """Numbers (with their CI and flag) and p-values are right-aligned; names and notes are not."""
    return _NUMBER.match(str(cell)) is not None


_NUMBER = re.compile(r"^(≈ )?(p |-?\d|–$|n/a$)")


def write_html(content: ReportContent, path: Path, rendered: Mapping[str, bytes] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(content, rendered), encoding="utf-8")
    return path
