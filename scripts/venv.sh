# Sourced by quickstart.sh and test.sh: make ./.venv (Python >= 3.11) and install the project into it.
# Usage: . scripts/venv.sh EXTRAS   (e.g. "bench" or "bench,test")
set -euo pipefail
extras="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${IPEX_VENV:-$root/.venv}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: $python is older than 3.11 (or missing); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  # Debian splits venv/ensurepip into python3-venv.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  else
    echo "error: Python's venv module is missing; install it (Debian: sudo apt-get install python3-venv)" >&2
    exit 2
  fi
fi
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
# constraints.txt pins torch to the CPU build; without it pip would pull a multi-GB CUDA build.
"$venv/bin/python" -m pip install -q -c "$root/constraints.txt" -e "$root[$extras]"
