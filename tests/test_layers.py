"""The library's shape: no import cycle, no private name imported across packages, and every
module named in the layer map of the package docstring and of the README."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import deliverylab

LIB = Path(deliverylab.__file__).parent
README = LIB.parents[1] / "README.md"


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for f in LIB.rglob("*.py"):
        parts = list(f.relative_to(LIB.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return mods


def _imports() -> tuple[dict[str, set[str]], list[str]]:
    """Each module's imports of other deliverylab modules, and private names imported from
    another package."""
    mods = _modules()
    edges: dict[str, set[str]] = {}
    private = []
    for name, (f, is_pkg) in mods.items():
        pkg = name if is_pkg else name.rsplit(".", 1)[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[:len(pkg.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("deliverylab"):
                    continue
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    deps.add(full if full in mods else target)
                    owner = target if mods.get(target, (None, False))[1] else target.rsplit(".", 1)[0]
                    if alias.name.startswith("_") and not alias.name.startswith("__") and owner != pkg:
                        private.append(f"{name} imports {target}.{alias.name}")
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in mods)
        edges[name] = {d for d in deps if d in mods and d != name}
    return edges, private


def test_no_import_cycle():
    edges, _ = _imports()
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


def test_no_private_name_imported_across_packages():
    _, private = _imports()
    assert not private, private


def _top_level_names() -> set[str]:
    names = {p.stem for p in LIB.glob("*.py") if p.stem != "__init__"}
    return names | {p.name for p in LIB.iterdir() if (p / "__init__.py").exists()}


def test_layer_map_names_every_module():
    doc = deliverylab.__doc__ or ""
    readme = README.read_text()
    section = readme[readme.index("Layers of `lib/deliverylab/`"):readme.index("## Other ways")]
    for name in sorted(_top_level_names()):
        assert re.search(rf"\b{name}\b", doc), f"{name} is missing from deliverylab's docstring"
        assert f"`{name}`" in section or f"`{name}/`" in section, f"{name} is missing from the README"


def _layers() -> dict[str, int]:
    """Top-level module or subpackage → its layer's position in the docstring's map."""
    layer, out = -1, {}
    for line in (deliverylab.__doc__ or "").splitlines():
        if line and not line.startswith(" "):
            layer += 1  # a layer's heading
        elif line.startswith("    ") and not line.startswith("     ") and layer >= 0:
            for name in line.strip().split("  ")[0].split(","):
                out[name.strip().rstrip("/")] = layer
    return out


def test_a_layer_imports_only_from_itself_and_the_layers_before_it():
    layers = _layers()
    edges, _ = _imports()

    def top(mod: str) -> str:
        parts = mod.split(".")
        return parts[1] if len(parts) > 1 else ""
    wrong = [f"{m} → {d}" for m, deps in edges.items() for d in deps
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
