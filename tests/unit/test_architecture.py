"""The dependency rules of the design, checked on the source: they hold by construction, not by review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "shared" / "flywheel"


def imports_of(path: Path, *, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body if top_level_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(folder: str) -> list[Path]:
    """Every module under `folder`, subpackages included (services/cold/, services/nurture/, ...)."""
    return sorted((PACKAGE / folder).rglob("*.py"))


def module_id(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


IO_MODULES = ("os", "sqlite3", "socket", "urllib", "http", "requests", "hubspot", "google", "boto3", "time")


@pytest.mark.parametrize("path", modules("domain"), ids=module_id)
def test_the_domain_is_pure(path: Path) -> None:
    found = imports_of(path)

    ours = {name for name in found if name.startswith("flywheel")}
    assert ours <= {name for name in ours if name.startswith(("flywheel.domain", "flywheel.config"))}
    assert not {name for name in found if name.split(".")[0] in IO_MODULES}


@pytest.mark.parametrize("path", modules("services"), ids=module_id)
def test_services_see_ports_never_adapters(path: Path) -> None:
    assert not {name for name in imports_of(path) if name.startswith(("flywheel.adapters", "flywheel.bootstrap"))}


@pytest.mark.parametrize(
    "path",
    [p for p in PACKAGE.rglob("*.py") if p.name not in {"cli.py", "demo.py"}],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_product_code_never_imports_the_sandbox(path: Path) -> None:
    assert not {name for name in imports_of(path) if name.split(".")[0] == "sandbox"}


def test_no_client_is_built_at_import_time() -> None:
    """Clients are built lazily, once per instance: importing every module must not construct one."""
    bootstrap = imports_of(PACKAGE / "bootstrap.py", top_level_only=True)

    assert not {name for name in bootstrap if name.startswith(("flywheel.adapters", "hubspot", "google"))}
