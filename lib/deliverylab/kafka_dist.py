"""Fetch the official Apache Kafka jars from Maven Central once, verify them, reuse them.

Why not the .tgz distribution: the lab needs only Python and Java on a learner's machine, and the
jars (with checksums pinned in ``kafka-jars.txt``) come from the same registry every Java build
uses. The list was made with ``mvn dependency:list`` on ``org.apache.kafka:kafka_2.13``,
``org.apache.kafka:kafka-tools`` (VerifiableConsumer and friends) and log4j2's slf4j binding.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .errors import LabError
from .paths import cache_dir

KAFKA_VERSION = "4.1.1"
DEFAULT_REPO = "https://repo.maven.apache.org/maven2"
_PINS = Path(__file__).with_name("kafka-jars.txt")


@dataclass(frozen=True)
class Jar:
    group: str
    artifact: str
    version: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    def url(self, repo: str) -> str:
        return f"{repo.rstrip('/')}/{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.filename}"


def pinned_jars() -> list[Jar]:
    jars = []
    for line in _PINS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        coords, sha, size = line.split()
        group, artifact, version = coords.split(":")
        jars.append(Jar(group, artifact, version, sha, int(size)))
    return jars


def libs_dir() -> Path:
    return cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_verified(path: Path, jar: Jar) -> bool:
    return path.exists() and path.stat().st_size == jar.size and _sha256(path) == jar.sha256


def _fetch(jar: Jar, dest: Path, repo: str) -> None:
    part = dest.with_suffix(".part")
    url = jar.url(repo)
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, part.open("wb") as out:
            while block := resp.read(1 << 20):
                out.write(block)
    except (urllib.error.URLError, OSError) as exc:
        part.unlink(missing_ok=True)
        raise LabError(
            f"Downloading Kafka's jar {jar.filename} from {url} failed ({exc}).",
            "Check your internet connection or proxy, or point DELIVERYLAB_MAVEN_REPO at a Maven "
            "mirror you can reach; then run `make setup` again.") from None
    if not _is_verified(part, jar):
        part.unlink(missing_ok=True)
        raise LabError(f"The download of {jar.filename} from {url} does not match its pinned "
                       f"SHA-256 {jar.sha256[:16]}….",
                       "The mirror served a different file; use Maven Central or a faithful mirror "
                       "(DELIVERYLAB_MAVEN_REPO).")
    part.rename(dest)


def ensure_kafka(progress: bool = False) -> Path:
    """Return the folder of verified Kafka jars, downloading what is missing (once)."""
    libs = libs_dir()
    libs.mkdir(parents=True, exist_ok=True)
    jars = pinned_jars()
    marker = libs / ".verified"
    if marker.exists() and marker.read_text() == _PINS.read_text():
        return libs
    repo = os.environ.get("DELIVERYLAB_MAVEN_REPO", DEFAULT_REPO)
    with (libs.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two notebooks starting at once download once
        missing = [j for j in jars if not _is_verified(libs / j.filename, j)]
        if progress and missing:
            mb = sum(j.size for j in missing) / 1e6
            print(f"Fetching Apache Kafka {KAFKA_VERSION}: {len(missing)} jars, {mb:.0f} MB, into {libs}")
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda j: _fetch(j, libs / j.filename, repo), missing))
        wanted = {j.filename for j in jars}
        for stray in libs.glob("*.jar"):
            if stray.name not in wanted:  # an older pin's jar must not join the classpath
                stray.unlink()
        marker.write_text(_PINS.read_text())
    return libs


def classpath() -> str:
    return str(ensure_kafka() / "*")
