#!/usr/bin/env bash
# Debian packages the test suite drives for real: headless Chromium for end-to-end tests,
# PostgreSQL server binaries (the case-library tests start their own throwaway server), the Korean font.
# `system-deps.sh font`: the font only (run.sh: the app's Korean PDF and PNG downloads need it).
set -euo pipefail
need=()
if [ "${1:-}" != "font" ]; then
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
fi
# Noto Sans CJK (SIL OFL 1.1): the Korean text of PDF reports and exported figures (core/fonts.py).
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || need+=(fonts-noto-cjk)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "== installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
