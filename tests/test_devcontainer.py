"""The dev container (.devcontainer/) asks for what the lab needs. It cannot be started here (no
Docker on this machine): these tests check its file against the README, pyproject.toml and the
lab's minimums, and the README's platform table against what was run where."""
from __future__ import annotations

import json
import re
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from deliverylab.java import MIN_JAVA

ROOT = Path(__file__).resolve().parents[1]
DEVCONTAINER = ROOT / ".devcontainer" / "devcontainer.json"
README = (ROOT / "README.md").read_text()


def devcontainer() -> dict:
    return json.loads(DEVCONTAINER.read_text())  # plain JSON: its comments are in its README


def readme_setup_command() -> str:
    """The Quickstart's setup line (`make setup  # ...`), without its comment."""
    block = re.search(r"## Quickstart\n.*?```bash\n(.*?)```", README, re.S).group(1)
    lines = [line.split("#")[0].strip() for line in block.splitlines()]
    setup = [line for line in lines if line.startswith("make setup")]
    assert len(setup) == 1, block
    return setup[0]


def test_post_create_is_the_readmes_setup_command():
    assert devcontainer()["postCreateCommand"] == readme_setup_command() == "make setup"


def test_its_python_is_one_the_package_allows_and_its_java_the_labs_minimum():
    d = devcontainer()
    python = re.fullmatch(r"mcr\.microsoft\.com/devcontainers/python:(?:\d+-)?(3\.\d+)(?:-\w+)?",
                          d["image"])
    assert python, d["image"]
    requires = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    assert Version(python.group(1)) in requires, (python.group(1), requires)
    java = d["features"]["ghcr.io/devcontainers/features/java:1"]["version"]
    assert java == str(MIN_JAVA), java


def test_network_faults_get_net_admin_and_the_docs_say_so():
    d = devcontainer()
    assert "--cap-add=NET_ADMIN" in d["runArgs"] and d["remoteUser"] == "root"
    for doc in (README, (ROOT / ".devcontainer" / "README.md").read_text()):
        assert "--cap-add=NET_ADMIN" in doc and "not run here" in doc.lower()


def test_the_platform_table_names_each_platform_and_where_it_was_tested():
    table = README.split("## Platforms", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()
            if line.startswith("| **")}
    assert [r.split("**")[1] for r in rows] == [
        "Linux", "macOS", "Windows: WSL2", "Windows, native", "Dev container / GitHub Codespaces"]
    tested = {name.split("**")[1]: row.rstrip("|").rsplit("|", 1)[1] for name, row in rows.items()}
    assert "make test" in tested["Linux"]
    assert "DELIVERYLAB_PLATFORM=darwin" in tested["macOS"] and "not on a Mac" in tested["macOS"]
    assert "not run" in tested["Dev container / GitHub Codespaces"]
