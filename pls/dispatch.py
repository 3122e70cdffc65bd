"""Fast calls of a `singledispatchmethod`: its implementation looked up once per event type.

In Python 3.11 every call of a `singledispatchmethod` builds a new bound wrapper; a projection
called for every event of a national stream pays for that millions of times.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import singledispatchmethod
from typing import Any


class Dispatch:
    """`Dispatch(SomeProjection, "process_event")(instance, event, *args)`."""

    def __init__(self, owner: type, name: str) -> None:
        method = inspect.getattr_static(owner, name)
        if not isinstance(method, singledispatchmethod):
            raise TypeError(f"{owner.__name__}.{name} is not a singledispatchmethod")
        self._dispatch = method.dispatcher.dispatch
        self._cache: dict[type, Callable[..., Any]] = {}

    def __call__(self, instance: Any, first: Any, *args: Any) -> Any:
        kind = type(first)
        function = self._cache.get(kind)
        if function is None:
            function = self._cache[kind] = self._dispatch(kind)
        return function(instance, first, *args)


def fast_method(instance: Any, name: str) -> Callable[..., Any]:
    """The instance's method `name`, dispatched through `Dispatch` when it is single-dispatch."""
    owner = type(instance)
    if isinstance(inspect.getattr_static(owner, name), singledispatchmethod):
        dispatch = Dispatch(owner, name)
        return lambda *args: dispatch(instance, *args)
    method: Callable[..., Any] = getattr(instance, name)
    return method
