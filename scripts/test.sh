#!/usr/bin/env bash
# Set up ./.venv with the test dependencies and run the whole test suite (extra args go to pytest).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# `nix hash path` is the reference the NAR-hash tests compare against (Debian's nix-bin works offline).
if ! command -v nix >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq nix-bin >/dev/null) || echo "warning: could not install nix-bin; NAR parity tests will skip" >&2
fi
. "$root/scripts/venv.sh" bench,test
cd "$root"
exec "$venv/bin/python" -m pytest "$@"
