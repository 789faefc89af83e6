"""Where the lab keeps its files: a cache for Kafka's jars and a home for the running cluster,
and the lock that makes two processes take turns on one of them."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def cache_dir() -> Path:
    """Downloaded Kafka jars live here, shared by every cluster and test session."""
    if os.environ.get("DELIVERYLAB_CACHE"):
        return Path(os.environ["DELIVERYLAB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deliverylab"


def home_dir() -> Path:
    """The run folder of the local cluster (state file, broker data, logs).

    Tests point DELIVERYLAB_HOME elsewhere so they never touch a learner's running cluster.
    """
    if os.environ.get("DELIVERYLAB_HOME"):
        return Path(os.environ["DELIVERYLAB_HOME"]).expanduser()
    return cache_dir() / "cluster"


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


LOCK_FILE = ".lock"  # folder_lock's file in the folder it locks


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on `folder` (its `.lock` file), held until the block ends, across
    processes: two notebooks starting at once download the jars once and start one cluster."""
    import fcntl  # POSIX only: imported here so that `import deliverylab` works on native
    # Windows too, where the `deliverylab` command then says to use WSL2 (cluster/host.py)

    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = (folder / LOCK_FILE).open("w")
    except OSError as exc:  # a read-only home, a path under a file: one paragraph, not a traceback
        from .errors import LabError
        raise LabError(f"The lab's folder {str(folder)!r} cannot be written "
                       f"({exc.strerror or exc}).",
                       "Point DELIVERYLAB_HOME (the cluster and its runs) or DELIVERYLAB_CACHE "
                       "(the Kafka jars) at a folder you can write.") from None
    with lock as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _probe(folder: Path) -> str | None:
    """Why `folder` cannot take a new file, or None: a real file made and removed (os.access
    says yes to root on a read-only mount, and a full disk shows only on writing)."""
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".deliverylab-probe-") as f:
            f.write(b"x" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def check_writable_file(path: str | Path, name: str) -> Path:
    """An output file the lab will write at the end of a long run, checked before the run: its
    folder exists and takes a file, and the path is not a folder. `name` is how the learner
    gave it (`--out`, `out=`)."""
    from .errors import LabError

    p = Path(path).expanduser()
    if p.is_dir():
        raise LabError(f"{name} {str(p)!r} is a folder, not a file.",
                       f"Give a file name, e.g. {name} {p / 'runs.csv'}.")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.exists():
        raise LabError(f"{name} {str(p)!r}: the folder {str(folder)!r} does not exist, so the "
                       "results could not be written at the end of the run.",
                       f"Create it first (mkdir -p {folder}), or write to an existing folder.")
    if not folder.is_dir():
        raise LabError(f"{name} {str(p)!r}: {str(folder)!r} is a file, not a folder.",
                       "Write to a file in an existing folder.")
    why = _probe(folder) or (None if not p.exists() or os.access(p, os.W_OK) else "read-only file")
    if why:
        raise LabError(f"{name} {str(p)!r} cannot be written ({why}), so the results would be "
                       "lost at the end of the run.", "Write to a folder you can write to.")
    return p


def check_writable_folder(folder: Path, what: str, fix: str) -> Path:
    """A folder the lab writes into during a run (the run folder), checked before anything
    starts: one paragraph, not a worker's traceback halfway through."""
    from .errors import LabError

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LabError(f"The {what} {str(folder)!r} cannot be made ({exc.strerror or exc}).",
                       fix) from None
    why = _probe(folder)
    if why:
        raise LabError(f"The {what} {str(folder)!r} cannot be written ({why}).", fix)
    return folder
