"""A tiny name -> object registry, the way lm-evaluation-harness names tasks.

Corpora, protocols, features and methods each keep one ``Registry``. An entry is either registered
eagerly (``@REGISTRY.register("name")`` on the object) or lazily, as ``"name": "module:attribute"``
in the registry's table: the module is imported the first time the name is looked up, so listing the
names, or using one entry, imports nothing else and no module is imported for its side effect.
"""
from __future__ import annotations

import importlib
from typing import Callable, Generic, Iterator, Mapping, TypeVar

from benchmark.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a stable, user-facing name to a class or function."""

    def __init__(self, kind: str, lazy: Mapping[str, str] | None = None):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        for name, target in (lazy or {}).items():
            self.register_lazy(name, target)

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            if name in self._lazy and self._lazy[name] != _target_of(obj):
                raise ValueError(f"{self.kind} {name!r} is registered twice ({self._lazy[name]} and {_target_of(obj)})")
            self._entries[name] = obj
            return obj

        return decorator

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``name`` as ``"package.module:attribute"``, imported on first use."""
        module, _, attribute = target.partition(":")
        if not module or not attribute:
            raise ValueError(f"{self.kind} {name!r}: a lazy entry is 'module:attribute', got {target!r}")
        if name in self._lazy and self._lazy[name] != target:
            raise ValueError(f"{self.kind} {name!r} is registered twice ({self._lazy[name]} and {target})")
        self._lazy[name] = target

    def get(self, name: str) -> T:
        if name in self._entries:
            return self._entries[name]
        if name in self._lazy:
            return self._resolve(name)
        known = ", ".join(self.names()) or "(none)"
        raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}")

    def _resolve(self, name: str) -> T:
        module, _, attribute = self._lazy[name].partition(":")
        try:
            obj = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"{self.kind} {name!r}: cannot load {self._lazy[name]} ({exc})") from exc
        self._entries[name] = obj
        return obj

    def names(self) -> list[str]:
        return sorted(set(self._entries) | set(self._lazy))

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _target_of(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', '?')}"
