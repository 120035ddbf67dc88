#!/usr/bin/env bash
# `make bench`: sets up bench/.venv (matplotlib) once, then runs bench/run.py,
# which builds wsrelay and the peers and runs the side-by-side benchmark.
# Arguments go to run.py (--quick, --servers, --only, --repeat, --no-build, --out,
# --from-results); `python3 bench/test_harness.py` tests the harness itself.
set -euo pipefail
bench_dir="$(cd "$(dirname "$0")" && pwd)"
venv="$bench_dir/.venv"

if ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
    echo "run.sh: creating $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$bench_dir/requirements.txt" </dev/null
fi
exec "$venv/bin/python" "$bench_dir/run.py" "$@"
