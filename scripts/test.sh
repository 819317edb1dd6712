#!/usr/bin/env bash
# Set up ./.venv with the test dependencies and run the whole test suite (extra args go to pytest).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# `nix hash path` is the reference the NAR-hash tests compare against (Debian's nix-bin works offline).
if ! command -v nix >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq nix-bin >/dev/null) || echo "warning: could not install nix-bin; NAR parity tests will skip" >&2
fi
# A current Nix for tests/nix (the flake and the modules under the real nixpkgs lib, which needs Nix >= 2.18):
# installed by ../shared/nix/install-nix.sh where the checkout has it beside it; elsewhere those tests skip.
if [ -z "${IPEX_NIX_BIN:-}" ]; then
  for prefix in /opt/nix-trixie "${XDG_CACHE_HOME:-$HOME/.cache}/ipex-integration/nix-trixie"; do
    [ -x "$prefix/bin/nix" ] && { export IPEX_NIX_BIN="$prefix/bin"; break; }
  done
  installer="$root/../shared/nix/install-nix.sh"
  if [ -z "${IPEX_NIX_BIN:-}" ] && [ -f "$installer" ]; then
    prefix=/opt/nix-trixie; [ -w /opt ] || prefix="${XDG_CACHE_HOME:-$HOME/.cache}/ipex-integration/nix-trixie"
    if bash "$installer" "$prefix" >/dev/null 2>&1; then export IPEX_NIX_BIN="$prefix/bin"
    else echo "warning: could not install Nix 2.26 into $prefix; tests/nix flake tests will skip" >&2; fi
  fi
fi
# Headless Chromium renders the benchmark report in tests/browser (they skip without it). Debian's package.
if [ -z "${IPEX_TEST_NO_BROWSER:-}" ] && ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "warning: could not install chromium; browser tests will skip" >&2
fi
. "$root/scripts/venv.sh" bench,test
# tests/llama's real llama.cpp server: from pip's wheel cache (seconds) where a build left one; compiling it
# (10-15 min on 2 cores) only when asked with IPEX_TEST_LLAMA=build. Elsewhere those tests skip and say why.
llama='llama-cpp-python[server]==0.3.36'
if [ "${IPEX_TEST_LLAMA:-cache}" = build ] || "$venv/bin/python" -m pip cache list 'llama_cpp_python-0.3.36*' 2>/dev/null | grep -q llama_cpp_python; then
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$venv/bin/python" -m pip install -q "$llama" || echo "warning: $llama not installed; tests/llama real-server tests will skip" >&2
fi
cd "$root"
exec "$venv/bin/python" -m pytest "$@"
