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


# Layers above synth_assets.batch import it through its public surface (its __init__), so
# the library's modules can be reshaped without touching them.
OTHER_LAYERS = sorted(
    path
    for path in [*PACKAGE.rglob("*.py"), PACKAGE.parent / "definitions.py"]
    if PACKAGE / "batch" not in path.parents
)
# Imports of a batch module that are waiting for that module's own change.
KNOWN_DEEP_IMPORTS: dict[tuple[str, str], set[str]] = {}


def _batch_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of each ``from synth_assets.batch[...] import`` and ``import`` in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module == "synth_assets.batch" or node.module.startswith("synth_assets.batch."):
                found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [
                (alias.name, [])
                for alias in node.names
                if alias.name.startswith("synth_assets.batch.")
            ]
    return found


@pytest.mark.parametrize("path", OTHER_LAYERS, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_other_layers_import_batch_through_its_public_names(path: Path) -> None:
    import synth_assets.batch

    public = set(synth_assets.batch.__all__)
    where = str(path.relative_to(PACKAGE)) if PACKAGE in path.parents else path.name
    wrong = []
    for module, names in _batch_imports(path):
        if module == "synth_assets.batch":
            wrong += [
                f"{name} (not in synth_assets.batch.__all__)"
                for name in names
                if name not in public
            ]
            continue
        allowed = KNOWN_DEEP_IMPORTS.get((where, module), set())
        wrong += [f"{module}.{name}" for name in names or [""] if name not in allowed]
    assert wrong == [], f"{where} imports batch internals: {wrong}"


def test_batch_public_names_exist() -> None:
    import synth_assets.batch

    missing = [name for name in synth_assets.batch.__all__ if not hasattr(synth_assets.batch, name)]
    assert missing == []
