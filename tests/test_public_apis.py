"""The project uses the public APIs of Dagster and openai only: their private modules change
without notice between releases."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "synth_assets"
PRIVATE = ("dagster._", "dagster_shared._", "openai._", "openai.lib._")


def imported_modules(path: Path) -> list[str]:
    """Every module a file imports, by its dotted name."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_no_private_module_of_dagster_or_openai_is_imported(path: Path) -> None:
    private = [name for name in imported_modules(path) if name.startswith(PRIVATE)]
    assert private == [], f"{path.relative_to(PACKAGE)} imports private modules: {private}"
