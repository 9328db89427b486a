"""The package's modules import each other one way only.

``skrpf/__init__.py`` re-exports; no module inside the package imports it
(``from . import name`` of a name that is not a submodule, or ``import
skrpf``), and the imports between submodules form no cycle. A module that
reached back into ``__init__`` would work or fail depending on which module
a user happened to import first.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "skrpf"
MODULES = {path.stem: path for path in PACKAGE.glob("*.py")}


def _imports(path: Path) -> list[str]:
    """Names of the package's modules that ``path`` imports; ``"__init__"`` for the package itself."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module is not None:
                found.append(node.module.split(".")[0])
            else:
                # ``from . import x`` is a submodule import only if x is a submodule.
                found.extend(a.name if a.name in MODULES else "__init__" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] == "skrpf":
                found.append(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "skrpf":
                    found.append(parts[1] if len(parts) > 1 else "__init__")
    return found


def test_no_module_imports_the_package_init():
    offenders = {
        name: imports
        for name, path in MODULES.items()
        if name != "__init__" and "__init__" in (imports := _imports(path))
    }
    assert not offenders, f"modules importing skrpf/__init__.py: {sorted(offenders)}"


def test_submodule_imports_form_no_cycle():
    graph = {name: set(_imports(path)) - {"__init__"} for name, path in MODULES.items() if name != "__init__"}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name):
        if name in visiting:
            raise AssertionError("import cycle: " + " -> ".join(visiting[visiting.index(name) :] + [name]))
        if name in done:
            return
        visiting.append(name)
        for target in sorted(graph.get(name, ())):
            visit(target)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)
