"""Publish bookkeeping (benchmark.publish): a re-run publishes again only when its runs or its files changed.

The real publish (boards + report) is tested in tests/test_report.py; here it is replaced by one that writes
the files a publish leaves, so the stamp logic is tested on its own.
"""
from __future__ import annotations

import yaml

from benchmark import publish
from benchmark.report import DEFAULT_OUT

SUITE = "pubtest"


def _fake_board(tmp_path):
    path = tmp_path / "defs" / "fakeboard.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"name": "fakeboard", "title": "fake", "suite": SUITE,
                                    "protocol": "speaker_kfold", "rank_by": "ua", "columns": ["ua"]}))
    return str(path)


def test_publish_again_only_when_runs_or_files_changed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    board = _fake_board(tmp_path)
    boards_dir = tmp_path / "boards"
    calls = []

    def fake_publish(suite, uri, progress, n_jobs=1, boards_dir=None):
        calls.append((suite, n_jobs, boards_dir))
        (DEFAULT_OUT / suite).mkdir(parents=True, exist_ok=True)
        (DEFAULT_OUT / suite / "report.html").write_text("<html></html>")
        (publish.board_dir(board, boards_dir)).mkdir(parents=True, exist_ok=True)
        (publish.board_dir(board, boards_dir) / "leaderboard.md").write_text("# fake\n")
        return publish.Published(boards=[board], messages=[("written", True)], seconds=0.5)

    monkeypatch.setattr(publish, "publish", fake_publish)
    monkeypatch.setattr(publish, "suite_boards", lambda suite: [board])
    uri = f"sqlite:///{tmp_path / 'none.db'}"   # no experiment: no runs, still a state to compare
    again = lambda changed=False, where=boards_dir: publish.publish_if_changed(  # noqa: E731
        SUITE, uri, changed=changed, progress=False, n_jobs=2, boards_dir=where)

    first = again()
    assert first is not None and first.boards == [board] and calls == [(SUITE, 2, boards_dir)]
    stamp = publish.stamp_path(SUITE).read_text(encoding="utf-8")
    assert stamp == f"{uri}\n{publish.published_state(SUITE, uri, boards_dir).split(chr(10))[1]}\n" \
                    f"boards_dir={boards_dir}\nboards={board}\n"
    assert again() is None and len(calls) == 1                 # same runs, every file there: nothing to do
    assert again(changed=True) is not None and len(calls) == 2  # the run trained something
    (boards_dir / "fakeboard" / "leaderboard.md").unlink()       # a board gone: published again
    assert again() is not None and len(calls) == 3
    (DEFAULT_OUT / SUITE / "report.html").unlink()               # the report gone: published again
    assert again() is not None and len(calls) == 4
    assert again(where=tmp_path / "elsewhere") is not None and len(calls) == 5   # another boards folder
    assert again(where=tmp_path / "elsewhere") is None


def test_the_state_names_the_store_the_runs_and_the_boards_folder(tmp_path):
    uri = f"sqlite:///{tmp_path / 'none.db'}"
    state = publish.published_state(SUITE, uri, None)
    store, digest, where, end = state.split("\n")
    assert store == uri and len(digest) == 64 and where == "boards_dir=definitions" and end == ""
    assert publish.published_state(SUITE, uri, tmp_path).split("\n")[2] == f"boards_dir={tmp_path}"
