"""Registries resolve lazily: a name maps to "module:object", imported on first use (issue #12)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from benchmark.errors import ConfigError
from benchmark.registry import Registry


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def test_listing_the_methods_imports_no_method_module():
    out = _run("""
        import sys
        from benchmark.methods import METHODS
        names = METHODS.names()
        loaded = sorted(m for m in sys.modules if m.startswith(("baselines", "benchmark.methods.")))
        print(len(names), "emotion_extractor" in METHODS, "logreg" in names, loaded)
    """)
    assert out == "21 True True ['benchmark.methods.base']"


def test_looking_up_one_method_imports_only_its_module():
    out = _run("""
        import sys
        from benchmark.methods import METHODS
        cls = METHODS.get("logreg")
        print(cls.__module__, cls.__name__, "benchmark.methods.vae" in sys.modules, "baselines.cnn" in sys.modules)
    """)
    assert out == "baselines.classical LogRegBaseline False False"


def test_every_listed_method_resolves_to_a_method_class_named_as_registered():
    from benchmark.methods import METHODS, Method

    for name in METHODS.names():
        cls = METHODS.get(name)
        assert issubclass(cls, Method) and cls.name == name


def test_a_registered_object_and_a_lazy_entry_agree():
    reg: Registry[object] = Registry("widget", lazy={"deque": "collections:deque"})
    import collections

    assert reg.get("deque") is collections.deque
    reg.register("deque")(collections.deque)             # the same object again: fine
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("deque")(collections.OrderedDict)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register_lazy("deque", "collections:OrderedDict")


def test_unknown_and_broken_entries_raise_config_errors_naming_them():
    reg: Registry[object] = Registry("widget", lazy={"gone": "no_such_module_xyz:Thing", "typo": "collections:dequ"})
    with pytest.raises(ConfigError, match=r"unknown widget 'nope'; known: gone, typo"):
        reg.get("nope")
    with pytest.raises(ConfigError, match=r"widget 'gone': cannot load no_such_module_xyz:Thing"):
        reg.get("gone")
    with pytest.raises(ConfigError, match=r"widget 'typo': cannot load collections:dequ"):
        reg.get("typo")
    with pytest.raises(ValueError, match="module:attribute"):
        reg.register_lazy("bad", "collections.deque")
