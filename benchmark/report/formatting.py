"""How the report prints a number, a split's speaker-independence mark, and a file key."""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.report.content import SD_MARK, SI_MARK, flag


def si_flag(cells: pd.DataFrame) -> str:
    """The speaker-independence mark of the runs behind a number: SI, SD, or SI/SD when they disagree."""
    values = set(cells["speaker_independent"].astype(str).str.lower())
    return flag(True if values == {"true"} else False if values == {"false"} else None)


def fmt(value: float, low: float, high: float, mark: str, sd: float | None = None) -> str:
    """A number as printed everywhere: percent, [CI], the speaker-independence mark beside it."""
    spread = f" ± {pct(sd)}" if sd is not None and np.isfinite(sd) else ""
    return f"{pct(value)}{spread} [{pct(low)}, {pct(high)}] {mark}"


def pct(value: float | None) -> str:
    """A fraction in percent with one decimal; "–" for a missing or non-finite value."""
    return f"{100 * value:.1f}" if value is not None and np.isfinite(value) else "–"


def legend() -> str:
    """The note under every table whose numbers carry a speaker-independence mark."""
    return f"{SI_MARK} = speaker-independent, {SD_MARK} = speaker-dependent split."


def slug(text: str) -> str:
    """``text`` as a file stem / HTML anchor: alphanumerics kept, everything else ``_``, lower case."""
    return "".join(ch if ch.isalnum() else "_" for ch in str(text)).strip("_").lower()


def where(cells: pd.DataFrame) -> str:
    """"protocol P on C" for the (protocol, corpus) of ``cells``."""
    return f"protocol {cells['protocol'].iloc[0]} on {cells['corpus'].iloc[0]}"
