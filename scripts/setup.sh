#!/usr/bin/env bash
# Create .venv and install pinned requirements; a no-op when nothing changed since last time.
# Usage: scripts/setup.sh requirements.txt|requirements-dev.txt
set -euo pipefail
cd "$(dirname "$0")/.."
req="${1:-requirements.txt}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(basename "$req" .txt)"
want=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== installing $req into .venv (first run downloads PyTorch: several minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # pip warns once per package about this machine's optional local index mirrors; drop that noise.
  .venv/bin/python -m pip install --quiet -r "$req" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  echo "$want" > "$stamp"
fi
