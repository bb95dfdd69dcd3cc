#!/usr/bin/env bash
# Debian packages that the full test suite uses: PostgreSQL (store tests on a real server),
# Chromium (browser tests and PDF reports), CJK fonts (Chinese in screenshots and PDFs) and
# poppler-utils (the tests read the PDFs back).
# Safe to run again: installs only what is missing. Needs root (or sudo).
set -euo pipefail
need=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)
fc-list 2>/dev/null | grep -qi "noto sans cjk" || need+=(fonts-noto-cjk)
command -v pdfinfo >/dev/null || need+=(poppler-utils)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
