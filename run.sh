#!/usr/bin/env bash
# Set up (first time) and start CXR Teaching Lab on its embedded defaults: http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh requirements.txt
# The fast CPU prediction path, exported from the committed weights (seconds; a no-op when current).
.venv/bin/python -m core export-runtime --if-stale || echo "warning: predictions run on torch (slower)" >&2
# The Korean font for PDF and PNG downloads; without it the app still runs and says why those are missing.
scripts/system-deps.sh font || echo "warning: could not install fonts-noto-cjk; Korean PDF/PNG downloads are off" >&2
exec .venv/bin/python -m streamlit run app.py "$@"
