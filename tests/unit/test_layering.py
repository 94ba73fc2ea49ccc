"""The layers of the package, checked on its imports: none imports a layer above it.

```
model <- registry, store, auth <- service <- api <- app <- server, cli
```

``registry``, ``store`` and ``auth`` do not import each other, and the use-case
modules under ``service`` import only its building blocks (``access``, ``quotas``,
``locating``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "glimpse"
RANK = {
    "errors": 0,
    "model": 1,
    "options": 1,
    "plugins": 1,
    "settings": 2,
    "attributes": 2,
    "digest": 2,
    "logs": 2,
    "metrics": 2,
    "client": 2,
    "registry": 3,
    "store": 3,
    "auth": 3,
    "cache": 3,
    "derive": 3,
    "formats": 3,
    "fetch": 3,
    "service": 4,
    "api": 5,
    "app": 6,
    "server": 7,
    "cli": 8,
    "testing": 8,
    "__main__": 9,
}
SIBLINGS = {"registry", "store", "auth", "cache", "derive", "formats"}
SERVICE_BLOCKS = {"access", "quotas", "locating", "import_flow", "picture_memory"}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return [name for name in found if name.startswith("glimpse.")]


def _part(parts: tuple[str, ...]) -> str:
    return parts[0].removesuffix(".py")


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_layer_above_it(path: Path) -> None:
    here = path.relative_to(PACKAGE).parts
    mine = _part(here)
    assert mine in RANK or mine == "__init__", f"{mine} has no place in the layers"
    for name in _imports(path):
        other = name.split(".")[1]
        if other == mine or other not in RANK or mine not in RANK:
            continue
        assert RANK[other] <= RANK[mine], f"{'/'.join(here)} ({mine}) imports {name}"
        assert not (mine in SIBLINGS and other in SIBLINGS), f"{'/'.join(here)} imports {name}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "service").glob("*.py")), ids=lambda p: p.name)
def test_use_cases_do_not_import_each_other(path: Path) -> None:
    if path.stem in ("__init__", *SERVICE_BLOCKS):
        return
    for name in _imports(path):
        bits = name.split(".")
        if bits[1] == "service" and len(bits) > 2:
            assert bits[2] in SERVICE_BLOCKS, f"service/{path.name} imports {name}"
