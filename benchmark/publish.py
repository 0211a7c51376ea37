"""Publishing a suite: write its leaderboards and its report, and remember what they were made from.

``emobench run`` publishes when it finishes (``--publish``, the default): every
leaderboard defined for the suite (``leaderboards/*.yaml`` whose ``suite`` is
it) that has cells, into one folder per board, and the suite's report
(``benchmark.report``). A stamp file, ``reports/out/<suite>/.published``,
records the store, a digest of the finished cells' run ids and the boards
written, so a re-run that trained nothing and finds every published file still
there publishes nothing (:func:`publish_if_changed`).
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmark import leaderboard as lb

STAMP_NAME = ".published"


@dataclass
class Published:
    """What one publish wrote."""

    boards: list[str]                                  # the leaderboards written (names or definition paths)
    messages: list[tuple[str, bool]] = field(default_factory=list)   # (what happened, True unless a failure)
    seconds: float = 0.0                               # wall time of the boards and the report


def suite_boards(suite: str) -> list[str]:
    """The leaderboards defined for ``suite`` (their ``suite`` field), by name."""
    return [name for name in lb.list_definitions() if lb.load_definition(name).suite == suite]


def board_dir(name: str, boards_dir: Path | None) -> Path:
    """Where leaderboard ``name`` is written: ``boards_dir/<name>/``, or next to its definition."""
    definition = lb.load_definition(name)
    return (boards_dir if boards_dir is not None else lb.definition_path(name).parent) / definition.name


def write_board(name: str, tracking_uri: str, progress: bool, boards_dir: Path | None = None):
    """Write leaderboard ``name`` if it has cells: ``((name, message, written), board or None)``."""
    definition = lb.load_definition(name)
    try:
        board = lb.build_leaderboard(definition, tracking_uri, progress=progress)
    except lb.NoCellsError as exc:  # e.g. a suite run without its `tts` section: the others still publish
        return (name, f"leaderboard {name}: not written: {exc}", False), None
    files = lb.write(board, board_dir(name, boards_dir))
    return (name, f"leaderboard {name}: {files['md'] if 'md' in files else next(iter(files.values()))}", True), board


def write_boards(names: list[str], tracking_uri: str, progress: bool,
                 threads: int | None = None, boards_dir: Path | None = None) -> list[tuple[str, str, bool]]:
    """Write the leaderboards ``names`` (names or definition paths) that have cells:
    ``(name, message, written)`` each.

    ``threads``: cap BLAS/OpenMP threads (the boards' process shares the cores with the report's).
    ``boards_dir``: the folder of the boards (None: next to each definition, the committed snapshots)."""
    from threadpoolctl import threadpool_limits

    if threads:
        threadpool_limits(threads)
    return [write_board(name, tracking_uri, progress, boards_dir)[0] for name in names]


def write_claims_board(name: str, tracking_uri: str, boards_dir: Path | None = None):
    """Write the claims board ``name``: ``((name, message, written), its evaluated claims or None)``."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    outcome, board = write_board(name, tracking_uri, False, boards_dir)
    return outcome, (board.results if board is not None else None)


def all_claims_board(names: list[str]) -> str | None:
    """The board of ``names`` that evaluates every shipped claim, as the report's claims section does."""
    definitions = ((name, lb.load_definition(name)) for name in names)
    return next((name for name, d in definitions
                 if getattr(d, "kind", None) == "claims" and getattr(d, "claims", None) == "all"), None)


def publish(suite: str, tracking_uri: str, progress: bool, n_jobs: int = 1,
            boards_dir: Path | None = None) -> Published:
    """Write every leaderboard defined for ``suite`` that has cells (into ``boards_dir``, or next to each
    definition when None), and the suite's report.

    With ``n_jobs`` > 1 the boards are built in a second process while this one builds the report
    (a fresh interpreter: an SQLite connection must not cross a fork), and the report's figures are
    serialised by ``n_jobs`` processes.
    """
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from benchmark.report import build_report

    start = time.perf_counter()
    names = suite_boards(suite)
    if n_jobs > 1:
        from threadpoolctl import threadpool_limits

        # one BLAS/OpenMP thread per process: two processes with two threads each on two cores run slower
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool, threadpool_limits(1):
            # The claims board first: the report's claims section takes its verdicts (the same claims on the
            # same cells) instead of evaluating them again, about 6 s of the report's own critical path.
            claims_board = all_claims_board(names)
            claims_job = pool.submit(write_claims_board, claims_board, tracking_uri, boards_dir) \
                if claims_board else None
            boards = pool.submit(write_boards, [n for n in names if n != claims_board], tracking_uri, False, 1,
                                 boards_dir)
            result = build_report(suite, tracking_uri, progress=progress, n_jobs=n_jobs,
                                  claims=(lambda: claims_job.result()[1]) if claims_job else None)
            written = {o[0]: o for o in boards.result() + ([claims_job.result()[0]] if claims_job else [])}
            outcome = [written[n] for n in names]
    else:
        outcome = write_boards(names, tracking_uri, progress, boards_dir=boards_dir)
        result = build_report(suite, tracking_uri, progress=progress)
    messages = [(message, written) for _, message, written in outcome]
    messages.append((f"report: {result.html} (LaTeX in {result.latex})", True))
    return Published(boards=[name for name, _, written in outcome if written], messages=messages,
                     seconds=time.perf_counter() - start)


def stamp_path(suite: str) -> Path:
    """The stamp of the last publish of ``suite``, beside its report."""
    from benchmark.report import DEFAULT_OUT

    return DEFAULT_OUT / suite / STAMP_NAME


def published_state(suite: str, tracking_uri: str, boards_dir: Path | None = None) -> str:
    """What the published files are made from: the store, the run ids of its finished cells, the boards' folder."""
    from benchmark import results

    try:
        run_ids = sorted(results.load_cells(tracking_uri, suite)["run_id"])
    except Exception:  # noqa: BLE001  (no experiment yet, or an unreadable store: publish decides)
        run_ids = []
    digest = hashlib.sha256(chr(10).join(run_ids).encode()).hexdigest()
    return f"{tracking_uri}\n{digest}\nboards_dir={boards_dir or 'definitions'}\n"


def is_published(suite: str, state: str, boards_dir: Path | None = None) -> bool:
    """True when the last publish used exactly these runs and its files are all still there."""
    stamp = stamp_path(suite)
    text = stamp.read_text(encoding="utf-8") if stamp.is_file() else ""
    if not text.startswith(state):
        return False
    # the boards that publish wrote (a board without cells of its protocol was skipped, and stays so)
    boards = [b for line in text.splitlines() if line.startswith("boards=")
              for b in line.removeprefix("boards=").split(",") if b]
    expected = [stamp.parent / "report.html"]
    expected += [board_dir(n, boards_dir) / "leaderboard.md" for n in boards if n in suite_boards(suite)]
    return all(p.is_file() for p in expected)


def publish_if_changed(suite: str, tracking_uri: str, *, changed: bool, progress: bool, n_jobs: int = 1,
                       boards_dir: Path | None = None) -> Published | None:
    """Publish ``suite`` unless nothing ``changed`` and the last publish of these very runs is all still
    there (then None); the stamp records this publish."""
    state = published_state(suite, tracking_uri, boards_dir)
    if not changed and is_published(suite, state, boards_dir):
        return None
    published = publish(suite, tracking_uri, progress, n_jobs, boards_dir=boards_dir)
    stamp_path(suite).write_text(state + f"boards={','.join(published.boards)}\n", encoding="utf-8")
    return published
