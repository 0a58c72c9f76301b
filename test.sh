#!/usr/bin/env bash
# Set up (first time) and run the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/system-deps.sh
scripts/setup.sh requirements-dev.txt
exec .venv/bin/python -m pytest "$@"
