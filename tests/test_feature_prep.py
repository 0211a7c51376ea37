"""The run's feature preparation: extracted once, the first job's now and the rest in the background,
jobs held back until their features are cached, a bad file raised by name, values the same either way."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from benchmark.errors import AudioError
from benchmark.executors.base import Job, JobQueue
from benchmark.features import extract_features
from benchmark.features.cache import FeatureCache
from benchmark.features import make_config
from benchmark.runner.cells import FeatureNeed
from benchmark.runner.features import FeaturePrep

SR = 16000


def _tone(freq: float, seconds: float = 0.6, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def _manifest(folder, n: int = 6) -> pd.DataFrame:
    rows = []
    for i in range(n):
        path = folder / f"u{i}.wav"
        sf.write(path, _tone(150 + 40 * i), SR, subtype="FLOAT")
        rows.append({"utt_id": f"u{i}", "path": str(path), "corpus": "t", "language": ["en", "de"][i % 2],
                     "speaker": f"s{i % 3}", "emotion": ["neutral", "sad"][i % 2], "duration_s": 0.6})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class _Cell:
    """What FeaturePrep reads of a grid cell: its corpus, key and feature needs."""

    key: str
    needs: tuple[FeatureNeed, ...]
    corpus: str = "t"
    training_key: str = ""
    chained: bool = False

    def feature_needs(self) -> list[FeatureNeed]:
        return list(self.needs)


def _jobs() -> list[Job]:
    # the first job needs one language's log-mels; the later ones the whole corpus's functionals and log-mels
    return [Job([_Cell("tts", (FeatureNeed("logmel", "en"),))]),
            Job([_Cell("a", (FeatureNeed("functionals"),))]),
            Job([_Cell("b", (FeatureNeed("logmel"),))])]


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _cached(home, manifest: pd.DataFrame, feature: str) -> set[str]:
    from benchmark.features.cache import file_digest

    cache = FeatureCache(home / "features", make_config(feature))
    return {u for u, p in zip(manifest["utt_id"], manifest["path"]) if cache.get(file_digest(p)) is not None}


def test_the_first_job_gets_its_features_at_once_and_the_rest_in_the_background(tmp_path, home):
    manifest = _manifest(tmp_path)
    jobs = _jobs()
    prep = FeaturePrep(jobs, {"t": manifest}, background=True, progress=False)
    try:
        # before the background process can have started: the first job's language is cached, ready
        assert prep.ready(jobs[0])
        assert _cached(home, manifest, "logmel") >= {"u0", "u2", "u4"}
        queue = JobQueue([j.cells for j in jobs], features=prep)
        assert queue.next_ready() is not None   # the first job
        prep.finish()
        assert not prep.pending and all(prep.ready(j) for j in jobs) and prep.seconds > 0
        assert not queue.waiting()
        assert _cached(home, manifest, "functionals") == _cached(home, manifest, "logmel") == set(manifest["utt_id"])
    finally:
        prep.close()


def test_jobs_wait_for_features_still_being_extracted(tmp_path, home):
    manifest = _manifest(tmp_path, n=24)
    jobs = _jobs()
    prep = FeaturePrep(jobs, {"t": manifest}, background=True, progress=False)
    queue = JobQueue([j.cells for j in jobs], features=prep)
    try:
        first = queue.next_ready()
        assert first is not None and first.cells[0].key == "tts"
        # the spawned extractor needs seconds to start: the other jobs are held back meanwhile
        assert prep.pending and queue.waiting() and queue.next_ready() is None
        assert queue.extracting() == 1   # a pool leaves the extractor a core: one worker fewer meanwhile
        while queue.waiting():
            queue.wait_for_features(timeout=5)
        assert queue.extracting() == 0
        assert [queue.next_ready().cells[0].key for _ in range(2)] == ["a", "b"]
    finally:
        prep.close()


def test_background_features_equal_a_direct_extraction(tmp_path, home):
    manifest = _manifest(tmp_path)
    prep = FeaturePrep(_jobs(), {"t": manifest}, background=True, progress=False)
    prep.finish()
    prep.close()
    for feature in ("functionals", "logmel"):
        cached = extract_features(manifest, feature, progress=False)   # from the cache the background wrote
        direct = extract_features(manifest, feature, cache_dir=tmp_path / "direct", progress=False)
        for utt in manifest["utt_id"]:
            np.testing.assert_array_equal(cached[utt], direct[utt])


def test_a_bad_file_in_a_background_extraction_is_raised_by_name_and_keeps_the_rest(tmp_path, home):
    manifest = _manifest(tmp_path)
    sf.write(manifest.at[3, "path"], np.zeros(SR, dtype=np.float32), SR)   # u3 (de) is now silent
    jobs = _jobs()
    prep = FeaturePrep(jobs, {"t": manifest}, background=True, progress=False)
    try:
        assert prep.ready(jobs[0])   # the English rows are fine: the first job runs
        while prep.pending:
            prep.wait()
        assert not prep.ready(jobs[1]) and not prep.ready(jobs[2])
        with pytest.raises(AudioError, match="u3.wav"):
            prep.check()
    finally:
        prep.close()
    assert _cached(home, manifest, "logmel") >= {"u0", "u2", "u4"}   # what was extracted stays cached


def test_without_background_everything_is_extracted_now(tmp_path, home):
    manifest = _manifest(tmp_path)
    jobs = _jobs()
    prep = FeaturePrep(jobs, {"t": manifest}, background=False, progress=False)
    assert not prep.pending and all(prep.ready(j) for j in jobs)
    assert _cached(home, manifest, "functionals") == set(manifest["utt_id"])


def test_errors_naming_a_file_survive_pickling():
    import pickle

    from benchmark.errors import ManifestError

    audio = pickle.loads(pickle.dumps(AudioError("/data/a.wav", "silent")))
    assert (audio.path, audio.reason, str(audio)) == ("/data/a.wav", "silent", "/data/a.wav: silent")
    manifest = pickle.loads(pickle.dumps(ManifestError("m.csv", ["row 3: empty text"])))
    assert manifest.problems == ["row 3: empty text"] and "row 3" in str(manifest)
