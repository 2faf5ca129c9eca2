# Sourced by scripts/test and scripts/demo: make .venv (once) and install the
# project with its dev tools into it. Re-installs when pyproject.toml changes.
VENV="${MEMBERKIT_VENV:-.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || { echo "memberkit needs Python 3.11 or newer (found $($PY --version))" >&2; exit 2; }
    "$PY" -m venv "$VENV"
fi
stamp="$VENV/.memberkit-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install --quiet -e ".[dev]"
    touch "$stamp"
fi
