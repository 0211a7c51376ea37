"""The report's sections, one module each, in the order the report shows them.

A section is a function ``build(inputs: ReportInputs) -> Section | None``
(:data:`SectionBuilder`): it reads what it needs from
:class:`~benchmark.report.inputs.ReportInputs` (the suite's SER cells
``inputs.ser``, its TTS cells ``inputs.tts``, the main protocol's cells
``inputs.main``, the runs that kept test embeddings ``inputs.embedded``, and
scores computed once for every section with ``inputs.score``) and returns a
:class:`~benchmark.report.content.Section`, or None when the suite has no data
for it, so a suite without an imbalance sweep simply has no imbalance
section. Every number is recomputed from the cells' predictions tables (and,
for the speaker probe and the language distances, their test embeddings),
never copied from a logged metric.

:data:`SECTIONS` registers each one lazily as ``(name, "module:function")``
(the project's registry style, ``benchmark.registry``): building a report
imports the section modules, listing them imports nothing. Adding a section
is one module here plus one line in :data:`SECTIONS` (docs/reports.md).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from benchmark.registry import Registry

if TYPE_CHECKING:
    from benchmark.report.content import Section
    from benchmark.report.inputs import ReportInputs

SectionBuilder = Callable[["ReportInputs"], "Section | None"]

# (name, "module:function"), in report order; the name is what progress and logs call the section.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("claims", "benchmark.report.sections.claims:build"),
    ("leaderboard", "benchmark.report.sections.leaderboard:build"),
    ("ablations", "benchmark.report.sections.ablations:build"),
    ("learning curves", "benchmark.report.sections.learning_curves:build"),
    ("confusion matrices", "benchmark.report.sections.confusion:build"),
    ("per-class recall", "benchmark.report.sections.recall:build"),
    ("imbalance", "benchmark.report.sections.imbalance:build"),
    ("transfer", "benchmark.report.sections.transfer:build"),
    ("language distances", "benchmark.report.sections.language_distances:build"),
    ("projections", "benchmark.report.sections.projections:build"),
    ("speaker probe", "benchmark.report.sections.speaker_probe:build"),
    ("TTS", "benchmark.report.sections.tts:build"),
)


def section_builders(sections: Sequence[tuple[str, str]] | None = None) -> list[tuple[str, SectionBuilder]]:
    """``(name, build)`` of every registered section (default :data:`SECTIONS`), in report order.

    A name registered twice is a ValueError, a target that does not import a ConfigError, each naming it.
    """
    entries = SECTIONS if sections is None else tuple(sections)
    registry: Registry[SectionBuilder] = Registry("report section")
    for name, target in entries:
        if name in registry:
            raise ValueError(f"report section {name!r} is registered twice")
        registry.register_lazy(name, target)
    return [(name, registry.get(name)) for name, _ in entries]


__all__ = ["SECTIONS", "SectionBuilder", "section_builders"]
