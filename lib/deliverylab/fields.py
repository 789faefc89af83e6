"""The one check of a Spec's fields: each value against the type its dataclass declares, and
against the range the lab gives it, before any process starts.

    check_fields(self, {"processing_ms": (0, 60_000), "members": (1, MAX_MEMBERS)})

A wrong value is one LabError naming the field as Python spells it (``processing_ms=-5``);
the CLI respells that as its option (``--processing-ms -5``, LabError.respelled), so every
check is written once, for both. The declared type is the contract: a new field is checked
by its annotation without a line of code here, and its range is one entry in the Spec's table.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Union

from .errors import LabError

# (low, high) inclusive, None: no bound on that side; an optional third item is the fix to say
# (why the bound is there), instead of "Use e.g. name=default."
Range = tuple[Any, ...]


def _unit(name: str) -> str:
    return " ms" if name.endswith("_ms") else " s" if name.endswith("_s") else ""


def _accepts(value: Any, tp: Any) -> bool:
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return any(_accepts(value, arg) for arg in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:  # a number: an int is one too (Python's own rule for float annotations)
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return isinstance(value, (tuple, list)) and all(
            any(_accepts(v, a) for a in args) if args else True for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True  # a type the lab does not spell (a Callable, a Protocol): the Spec checks it


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        named = [_describe(a) for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(named) + (" or None" if type(None) in typing.get_args(tp) else "")
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return "a list of " + (_describe(args[0]).replace("a ", "", 1) + "s" if args else "values")
    if origin is dict:
        return "a dict"
    return {bool: "True or False", int: "a whole number", float: "a number", str: "a string",
            bytes: "bytes"}.get(tp, f"a {getattr(tp, '__name__', tp)}")


def _example(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def check_fields(spec: Any, ranges: dict[str, Range] | None = None) -> None:
    """Every field of the dataclass `spec` against its declared type, then each field named in
    `ranges` (a number, or None where the type allows it) against its inclusive bounds."""
    hints = typing.get_type_hints(type(spec))
    fields = {f.name: f for f in dataclasses.fields(spec)}
    for name, f in fields.items():
        value = getattr(spec, name)
        if not _accepts(value, hints.get(name, Any)):
            example = _example(f)
            fix = f"Use e.g. {name}={example!r}." if example is not None else \
                f"Give {_describe(hints[name])}."
            raise LabError(f"{name}={value!r} is not {_describe(hints[name])}.", fix)
    for name, (low, high, *why) in (ranges or {}).items():
        value = getattr(spec, name)
        if value is None:
            continue
        if (low is not None and value < low) or (high is not None and value > high):
            unit = _unit(name)
            if high is None:
                bound = f"must be at least {low:,}{unit}"
            elif low is None:
                bound = f"must be at most {high:,}{unit}"
            else:
                bound = f"must be from {low:,} to {high:,}{unit}"
            example = _example(fields[name])
            fix = why[0] if why else f"Use e.g. {name}={example!r}." if example is not None \
                else "Or use None."
            raise LabError(f"{name}={value!r} {bound}.", fix)


__all__ = ["check_fields", "Range"]
