"""The TTS code reads corpora through neutral modules, never a corpus package (issue #12: imports follow the flow).

What the TTS targets and phonemizer share with the embedded corpus lives beside both: the eSpeak NG
binding (benchmark/espeak.py) and the stored phoneme timings' format (benchmark/phoneme_timings.py).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):   # function-level imports included
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _corpus_imports(path: Path) -> list[str]:
    return sorted(n for n in _imported_modules(path) if n.startswith("benchmark.corpora"))


@pytest.mark.parametrize("path", sorted((ROOT / "benchmark" / "tts").glob("*.py")), ids=lambda p: p.name)
def test_no_tts_module_imports_a_corpus(path):
    assert _corpus_imports(path) == [], f"{path.name} imports {_corpus_imports(path)}"


def test_the_check_sees_function_level_imports(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from benchmark.corpora.embedded import phoneme_timings\n")
    assert _corpus_imports(bad) == ["benchmark.corpora.embedded", "benchmark.corpora.embedded.phoneme_timings"]


def test_the_shared_pieces_are_what_the_corpus_uses_too():
    from benchmark import espeak, phoneme_timings
    from benchmark.corpora.embedded import build, phoneme_timings as exported, speakers

    assert build.Espeak is espeak.Espeak and speakers.ESPEAK_VOICES is espeak.ESPEAK_VOICES
    assert exported is phoneme_timings.phoneme_timings
