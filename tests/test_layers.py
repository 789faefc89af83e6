"""The library's shape, as its map (the package docstring) says it is.

- no import cycle, and a layer imports only from itself and the layers before it;
- no private name (`_x`) imported from another module, in the library, the tests or bench;
- outside its own package a name has one import path (deliverylab.course, the notebooks' door,
  and the root package's connect/LabError aside);
- notebooks import the lab from deliverylab.course, and nowhere else;
- the map names every module (each package's docstring its own), and README links to it
  instead of repeating it;
- event kinds are never spelt out.
"""
from __future__ import annotations

import ast
import functools
import importlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import deliverylab

LIB = Path(deliverylab.__file__).parent
ROOT = LIB.parents[1]
README = ROOT / "README.md"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
DOORS = ("deliverylab", "deliverylab.course")  # may re-export (see the package docstring)


@functools.lru_cache(maxsize=None)
def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for f in LIB.rglob("*.py"):
        parts = list(f.relative_to(LIB.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return mods


@dataclass(frozen=True)
class Site:
    """One `from target import name` (or `import target`) in a file."""

    where: str  # module name (lib) or path (tests, bench)
    module: str | None  # the importing module, for the library's files
    target: str
    name: str | None
    line: int


def _sites(source: str, module: str | None, is_pkg: bool, where: str) -> list[Site]:
    pkg = (module if is_pkg else module.rsplit(".", 1)[0]) if module else None
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[:len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("deliverylab"):
                out += [Site(where, module, target, a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [Site(where, module, a.name, None, node.lineno) for a in node.names
                    if a.name.startswith("deliverylab")]
    return out


def _all_sites() -> list[Site]:
    """Every import of the lab in the library, the tests and bench."""
    sites = []
    for name, (f, is_pkg) in _modules().items():
        sites += _sites(f.read_text(), name, is_pkg, name)
    for f in [*(ROOT / "tests").glob("*.py"), *(ROOT / "bench").glob("*.py")]:
        sites += _sites(f.read_text(), None, False, str(f.relative_to(ROOT)))
    return sites


def _edges() -> dict[str, set[str]]:
    mods = _modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for s in _all_sites():
        if s.module is None:
            continue
        full = f"{s.target}.{s.name}" if s.name else s.target
        dep = full if full in mods else s.target
        if dep in mods and dep != s.module:
            edges[s.module].add(dep)
    return edges


def test_no_import_cycle():
    edges = _edges()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for d in sorted(edges[n]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[n] = 2
    for n in sorted(edges):
        if n not in state:
            visit(n)
    assert not cycles, cycles


def test_no_private_name_is_imported_from_another_module():
    """Not across packages only: a module's `_name` is its own (lib, tests and bench)."""
    private = [f"{s.where}:{s.line} imports {s.target}.{s.name}" for s in _all_sites()
               if s.name and s.name.startswith("_") and not s.name.startswith("__")
               and s.target != s.module]
    assert not private, private


def _package_of(module: str | None) -> str | None:
    """The subpackage a library module belongs to (deliverylab.experiments for
    deliverylab.experiments.share), None for a top-level module, tests and bench."""
    parts = module.split(".") if module else []
    if len(parts) >= 3:
        return ".".join(parts[:2])
    return module if len(parts) == 2 and _modules()[module][1] else None


def test_outside_its_package_a_name_has_one_import_path():
    """CrashSpec from crash, FaultSpec from nemesis, quiet from clients, run_share from
    experiments: wherever it is imported from outside its own package, always the same path."""
    paths: dict[tuple[str, int], set[str]] = defaultdict(set)
    where: dict[tuple[str, int], list[str]] = defaultdict(list)
    absent = []
    for s in _all_sites():
        if not s.name or s.target in DOORS:
            continue
        inside = _package_of(s.module)
        if inside is not None and (s.target == inside or s.target.startswith(inside + ".")):
            continue  # a package's own modules import each other directly
        module = importlib.import_module(s.target)
        if not hasattr(module, s.name) and f"{s.target}.{s.name}" not in _modules():
            absent.append(f"{s.where}:{s.line} {s.target}.{s.name}")
        obj = getattr(module, s.name, None)
        if obj is None or isinstance(obj, ModuleType):
            continue
        key = (s.name, id(obj))
        paths[key].add(s.target)
        where[key].append(f"{s.where}:{s.line} from {s.target}")
    two = {name: where[(name, i)] for (name, i), targets in paths.items() if len(targets) > 1}
    assert not absent and not two, (absent, two)


def _notebook_sites(path: Path) -> list[Site]:
    sites = []
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "code":
            continue
        code = "".join(line for line in "".join(cell["source"]).splitlines(keepends=True)
                       if not line.lstrip().startswith(("%", "!")))
        sites += _sites(code, None, False, f"{path.name} cell {i}")
    return sites


def test_notebooks_import_the_lab_from_the_course_alone():
    """One import path for every name a notebook uses: deliverylab.course, which defines
    nothing itself (every name there is the defining module's own object)."""
    from deliverylab import course

    wrong = [f"{s.where}: {s.target}{'.' + s.name if s.name else ''}"
             for nb in NOTEBOOKS for s in _notebook_sites(nb)
             if s.target != "deliverylab.course" or s.name not in course.__all__]
    assert not wrong, wrong
    made_here = [n for n in course.__all__ if getattr(getattr(course, n), "__module__", None)
                 == "deliverylab.course"]
    assert not made_here, made_here


def _entries(doc: str) -> list[str]:
    """The names a map lists: lines indented four spaces, `name  what it does`."""
    out = []
    for line in doc.splitlines():
        if line.startswith("    ") and not line.startswith("     "):
            out += [n.strip().rstrip("/") for n in line.strip().split("  ")[0].split(",")]
    return out


def test_the_map_names_every_module_and_readme_links_to_it():
    top = {p.stem for p in LIB.glob("*.py") if p.stem != "__init__"} | \
        {p.name for p in LIB.iterdir() if (p / "__init__.py").exists()}
    listed = _entries(deliverylab.__doc__ or "")
    assert sorted(top - set(listed)) == [], "missing from deliverylab's docstring"
    assert sorted(set(listed) - top) == [], "listed in deliverylab's docstring, but not there"
    for pkg in ("experiments", "nemesis", "plots", "widgets"):  # a package's docstring maps its own
        mod = importlib.import_module(f"deliverylab.{pkg}")
        own = {p.stem for p in (LIB / pkg).glob("*.py") if p.stem != "__init__"}
        assert sorted(own - set(_entries(mod.__doc__ or ""))) == [], f"missing from {pkg}'s docstring"
    readme = README.read_text()
    assert "lib/deliverylab/__init__.py" in readme and "help(deliverylab)" in readme
    assert not re.search(r"`(checker|runs|vocabulary|group_result)`", readme), \
        "README repeats the map: link to it instead"


def _layers() -> dict[str, int]:
    """Top-level module or subpackage → its layer's position in the docstring's map."""
    layer, out = -1, {}
    for line in (deliverylab.__doc__ or "").splitlines():
        if line and not line.startswith(" "):
            layer += 1  # a layer's heading (or a paragraph around the map)
        elif line.startswith("    ") and not line.startswith("     ") and layer >= 0:
            for name in line.strip().split("  ")[0].split(","):
                out[name.strip().rstrip("/")] = layer
    return out


def test_a_layer_imports_only_from_itself_and_the_layers_before_it():
    layers = _layers()

    def top(mod: str) -> str:
        parts = mod.split(".")
        return parts[1] if len(parts) > 1 else ""
    wrong = [f"{m} → {d}" for m, deps in _edges().items() for d in deps
             if top(m) in layers and top(d) in layers and layers[top(d)] > layers[top(m)]]
    assert not wrong, wrong


def test_event_kinds_are_written_and_asked_for_by_their_vocabulary_names():
    """ledger.event(KIND, …) and SQL asking for an event kind never spell the kind out: a typo
    there would be an event nobody reads (vocabulary.EVENT_KINDS holds them)."""
    from deliverylab.vocabulary import EVENT_KINDS

    spelt = []
    for name, (f, _) in _modules().items():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "event" and \
                    node.args and isinstance(node.args[0], ast.Constant):
                spelt.append(f"{name}:{node.lineno} event({node.args[0].value!r})")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    any(f"kind = '{k}'" in node.value for k in EVENT_KINDS):
                spelt.append(f"{name}:{node.lineno} {node.value!r}")
    assert not spelt, spelt
