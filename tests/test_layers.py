"""The map of the code holds: no package imports another in a circle, lower layers never import higher ones.

Measured from the import statements of every module under src/vardmote (the way
docs/design-notes.md, "Map of the code", draws it), so a new import that breaks
the layering fails here, whether it is at the top of a file or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vardmote

ROOT = Path(vardmote.__file__).parent

LOWER = {"lib", "audit", "accounts", "patients", "meetings", "clients"}
"""The lower layers: they publish domain events and import nothing from a higher layer."""

HIGHER = {"invitations", "inbox", "skype", "media", "rooms", "cluster", "web", "fhir"}
"""The higher layers: they subscribe to events (vardmote.wiring) or serve people."""


def _package_imports() -> dict[str, dict[str, set[str]]]:
    """_package_imports is, per subpackage, the other subpackages it imports and from which files."""
    edges: dict[str, dict[str, set[str]]] = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if len(parts) < 2 or parts[0] == "migrations":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                top, _, rest = name.partition(".")
                package = rest.split(".")[0]
                if top == "vardmote" and package not in ("", parts[0]) and (ROOT / package).is_dir():
                    edges.setdefault(parts[0], {}).setdefault(package, set()).add("/".join(parts))
    return edges


def _cycles(edges: dict[str, dict[str, set[str]]]) -> list[tuple[str, str]]:
    """_cycles are the pairs of packages that reach each other through the imports."""

    def reaches(start: str, goal: str) -> bool:
        seen: set[str] = set()
        todo = [start]
        while todo:
            here = todo.pop()
            for there in edges.get(here, {}):
                if there == goal:
                    return True
                if there not in seen:
                    seen.add(there)
                    todo.append(there)
        return False

    return sorted({(min(a, b), max(a, b)) for a in edges for b in edges[a] if reaches(b, a)})


def test_every_subpackage_is_placed_in_a_layer() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - {"migrations"}
    assert packages == LOWER | HIGHER


def test_no_subpackage_imports_another_in_a_circle() -> None:
    assert _cycles(_package_imports()) == []


def test_no_lower_layer_imports_a_higher_one() -> None:
    wrong = {
        f"{package} -> {imported} ({', '.join(sorted(files))})"
        for package, targets in _package_imports().items()
        if package in LOWER
        for imported, files in targets.items()
        if imported in HIGHER
    }
    assert wrong == set()


def test_the_measure_finds_a_circle_of_three_and_nothing_in_a_line() -> None:
    circle = {"a": {"b": {"a/x.py"}}, "b": {"c": {"b/y.py"}}, "c": {"a": {"c/z.py"}}}
    line = {"a": {"b": {"a/x.py"}}, "b": {"c": {"b/y.py"}}}
    assert _cycles(circle) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert _cycles(line) == []
