"""One small registry type for every pluggable piece (stages, cells, tokenizers, ...)."""

from __future__ import annotations

import difflib
import importlib
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Registry(Generic[T]):
    """Maps names to components.

    Refuses duplicate names and (when ``base`` is given) classes that do not derive
    from ``base``. A failed lookup lists the valid names with a "did you mean".

    An entry may be given lazily as ``"package.module:Name"`` so that listing and
    validating names never imports heavy modules (TensorFlow); it is imported, and its
    base class checked, on first :meth:`get`.
    """

    def __init__(self, kind: str, base: type | None = None):
        self.kind = kind
        self.base = base
        self._items: dict[str, T | str] = {}
        self._descriptions: dict[str, str] = {}
        self.version = 0  # grows with every change, so caches built from a registry can tell they are stale

    def register(
        self, name: str, obj: T | str | None = None, *, description: str | None = None
    ) -> Callable[[T], T] | T | str:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def add(item: T | str) -> T | str:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            if not isinstance(item, str):
                self._check(name, item)
            self._items[name] = item
            doc = description or (None if isinstance(item, str) else item.__doc__)
            self._descriptions[name] = (doc or "").strip().split("\n")[0]
            self.version += 1
            return item

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for tests and plugins that register something for a while)."""
        if name not in self._items:
            raise KeyError(self.unknown_message(name))
        del self._items[name], self._descriptions[name]
        self.version += 1

    def _check(self, name: str, item: object) -> None:
        if self.base is not None and not (isinstance(item, type) and issubclass(item, self.base)):
            raise TypeError(
                f"{self.kind} '{name}' must be a subclass of {self.base.__name__}; got {item!r}"
            )

    def get(self, name: str) -> T:
        try:
            item = self._items[name]
        except KeyError:
            raise KeyError(self.unknown_message(name)) from None
        if isinstance(item, str):
            module, _, attr = item.partition(":")
            item = getattr(importlib.import_module(module), attr)
            self._check(name, item)
            self._items[name] = item
        return item

    def describe(self, name: str) -> str:
        """The one-line description given at registration (or the docstring's first line)."""
        if name not in self._items:
            raise KeyError(self.unknown_message(name))
        return self._descriptions[name]

    def unknown_message(self, name: Any) -> str:
        names = self.names()
        return (
            f"unknown {self.kind} '{name}'; expected one of {', '.join(names)}"
            f"{did_you_mean(str(name), names)}"
        )

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        return [(name, self.get(name)) for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
