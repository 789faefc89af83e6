"""A learner's function sent to the process that runs it under check.

cloudpickle (the pickler made for this: Dask, Ray and PySpark ship functions with it) pickles a
function defined in a notebook cell or script (`__main__`) *by value*: its code, its defaults and
the globals it reads, copied at the moment of the check. The function's own module is pickled by
value too when it is not `__main__` (a test module, a file next to the notebook), so the worker
needs no import path of the learner's.

What that rules out, each refused here with one paragraph before anything starts:
- a closure or global that cannot be copied into another process: an open Kafka client, socket,
  file, database connection, lock or thread (make them inside the function instead);
- state shared with the notebook: the function works on *copies*, so a list or counter it
  changes in the worker never changes in the notebook (the check's report is the result);
- a function with the wrong parameters (checked against the mode's signature).
"""
from __future__ import annotations

import inspect
import pickle
import sys
from pathlib import Path
from typing import Any, Callable

from ..errors import LabError

# mode -> (the parameters the lab passes, how the docs write the signature)
SIGNATURES: dict[str, tuple[tuple[str, ...], str]] = {
    "consumer": (("consumer", "process"), "def my_consumer(consumer, process): ..."),
    "transactional": (("consumer", "producer", "output_topic"),
                      "def my_copier(consumer, producer, output_topic): ..."),
    "producer": (("producer", "topic", "messages"), "def my_producer(producer, topic, messages): ..."),
}


def check_signature(fn: object, mode: str, api: str) -> None:
    params, example = SIGNATURES[mode]
    if not callable(fn):
        raise LabError(f"{api}() needs your function as its first argument, not {fn!r}.",
                       f"Define it as `{example}` and pass it: {api}(my_function, claim=...).")
    name = getattr(fn, "__name__", repr(fn))
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin or C callable: the worker's call will tell
    try:
        sig.bind(*params)
    except TypeError as exc:
        raise LabError(f"{api}() calls your function as {name}({', '.join(params)}), but "
                       f"{name}{sig} cannot take those {len(params)} arguments ({exc}).",
                       f"Write it as `{example}`.") from None


def source_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """Where the function's code is and its lines, read here: the worker cannot read a
    notebook cell (IPython keeps cells in its own process), and it quotes the learner's line."""
    try:
        lines, first = inspect.getsourcelines(fn)
        return {"file": fn.__code__.co_filename, "first": first, "lines": lines}
    except (OSError, TypeError, AttributeError):
        return {}


def _dumps(obj: Any) -> bytes:
    """cloudpickle.dumps, except for confluent_kafka's own types (TopicPartition, KafkaError, …):
    they say they live in a module `cimpl` that cannot be imported under that name, so
    cloudpickle would copy them by value and the copy cannot be rebuilt ("cannot set '__doc__'
    attribute of immutable type"). They go by reference to confluent_kafka.cimpl instead: a cell
    that imports TopicPartition at its top works as one that imports it inside the function."""
    import importlib
    import io

    import cloudpickle

    class Pickler(cloudpickle.Pickler):
        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, type) and obj.__module__ == "cimpl":
                return getattr, (importlib.import_module("confluent_kafka.cimpl"), obj.__name__)
            return super().reducer_override(obj)

    buf = io.BytesIO()
    Pickler(buf, protocol=pickle.DEFAULT_PROTOCOL).dump(obj)
    return buf.getvalue()


def pack(fn: Callable[..., Any], api: str) -> bytes:
    """The function (and its source, see source_of) as bytes the worker can load, or one
    LabError saying what cannot travel."""
    import cloudpickle

    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    by_value = module is not None and module.__name__ != "__main__" and \
        not module.__name__.startswith("deliverylab.")
    if by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        return _dumps((fn, source_of(fn)))
    except Exception as exc:  # pickle.PicklingError, TypeError ("cannot pickle 'X' object"), …
        name = getattr(fn, "__name__", repr(fn))
        raise LabError(f"{api}() cannot send {name} to the process it runs in: {exc}. A checked "
                       "function runs in a process of its own, so what it uses is copied there, "
                       "and open clients, sockets, files, locks and threads cannot be copied.",
                       "Create such objects inside the function (the consumer and producer it is "
                       "handed are already made), and pass plain values (numbers, strings, "
                       "lists, dicts) through globals or default arguments.") from None
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)


def unpack(path: Path) -> tuple[Callable[..., Any], dict[str, Any]]:
    """In the worker: the function and its source back (a failure is the caller's to report)."""
    return pickle.loads(path.read_bytes())


__all__ = ["SIGNATURES", "check_signature", "pack", "unpack"]
