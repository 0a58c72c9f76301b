#!/usr/bin/env bash
# Set up (first time), run the static checks, then the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/system-deps.sh
scripts/setup.sh requirements-dev.txt
scripts/check.sh
.venv/bin/python -m core export-runtime --if-stale  # the suite runs the prediction path the app runs
exec .venv/bin/python -m pytest "$@"
