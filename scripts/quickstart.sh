#!/usr/bin/env bash
# Quick start: set up ./.venv and run ipex-benchmark's quick suite on the best device present.
# The report (JSON, CSV, HTML) goes to ./results/ unless you pass --output DIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/venv.sh" bench
cd "$root"
"$venv/bin/ipex" devices
exec "$venv/bin/ipex-benchmark" --suite quick --device auto --output "$root/results" "$@"
