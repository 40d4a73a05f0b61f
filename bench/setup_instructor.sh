#!/usr/bin/env bash
# Create the two instructor venvs the benchmark compares against (idempotent).
#
#   .bench/venv-instructor-1.17.0   instructor 1.17.0 (openai 3.x)
#   .bench/venv-instructor-1.3.7    instructor 1.3.7  (needs openai<2: pip resolves 1.109.1)
#
# Both get pyarrow (for the "instructor parse + pyarrow by hand" Parquet figure) and the
# same pydantic/pydantic-core/pyarrow as the project venv, so that validation and Parquet
# writing run on the same engine on both sides and the figures compare the libraries.
# A venv that already imports `instructor.batch.BatchJob` at the right versions is left
# alone; anything else is (re)installed. Only PyPI is needed.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"

# The interpreter the venvs are made from: the project's, so both sides share a Python.
if [[ -x "$ROOT/.venv/bin/python" ]]; then
    BASE_PYTHON="$ROOT/.venv/bin/python"
else
    BASE_PYTHON="${PYTHON:-python3}"
fi

# Versions of the shared engine, read from the project venv when it has them.
pin() {  # pin DIST DEFAULT -> "DIST==VERSION"
    local version
    version="$("$BASE_PYTHON" -c "import importlib.metadata as m; print(m.version('$1'))" \
        2>/dev/null || echo "$2")"
    echo "$1==$version"
}
SHARED=("$(pin pydantic 2.14.4)" "$(pin pydantic-core 2.50.5)" "$(pin pyarrow 26.0.1)")

# Per version: instructor, plus the openai it was resolved with (pinned for repeatability).
declare -A OPENAI_PIN=(["1.17.0"]="openai==3.3.0" ["1.3.7"]="openai==1.109.1")

for version in 1.17.0 1.3.7; do
    venv="$ROOT/.bench/venv-instructor-$version"
    wanted=("instructor==$version" "${OPENAI_PIN[$version]}" "${SHARED[@]}")
    check="
import importlib.metadata as m, sys
from instructor.batch import BatchJob  # noqa: F401  the tutorial's import path
import pyarrow  # noqa: F401
for spec in sys.argv[1:]:
    name, version = spec.split('==')
    assert m.version(name) == version, (name, m.version(name), version)
"
    if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "$check" "${wanted[@]}" 2>/dev/null; then
        echo "[setup_instructor] $venv: ready (${wanted[*]})"
        continue
    fi
    echo "[setup_instructor] $venv: installing ${wanted[*]}"
    [[ -x "$venv/bin/python" ]] || "$BASE_PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${wanted[@]}"
    "$venv/bin/python" -c "$check" "${wanted[@]}"
done
