# Sourced by quickstart.sh and test.sh: make ./.venv (Python >= 3.11) and install the project into it.
# Usage: . scripts/venv.sh EXTRAS   (e.g. "bench" or "bench,test")
#
# Which torch goes in (the `bench` extra needs one): IPEX_TORCH=auto (default), cpu, cuda or skip.
#   auto  cuda where an NVIDIA GPU is found (nvidia-smi -L, /proc/driver/nvidia, or a PCI display device of
#         vendor 0x10de in sysfs), else cpu
#   cpu   the CPU build: torch==2.13.0 from constraints.txt when it resolves to a +cpu wheel (a local wheel, as
#         on this project's machines), else the PyTorch CPU index; never the multi-GB CUDA build from PyPI
#   cuda  the default index's torch (on Linux, PyPI's torch is the CUDA build)
#   skip  keep the torch already in the environment (install it yourself first)
# It prints which build it took.
set -euo pipefail
extras="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${IPEX_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
torch_choice="${IPEX_TORCH:-auto}"
cpu_index="${IPEX_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"

case "$torch_choice" in
  auto|cpu|cuda|skip) ;;
  *) echo "error: IPEX_TORCH=$torch_choice; use auto, cpu, cuda or skip" >&2; exit 2 ;;
esac

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
vpy="$venv/bin/python"
"$vpy" -m pip install -q --upgrade pip >/dev/null

# An NVIDIA GPU, found without its driver's tools where they are missing.
has_nvidia_gpu() {
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    return 0
  fi
  [ -e /proc/driver/nvidia/version ] && return 0
  local dev
  for dev in /sys/bus/pci/devices/*; do
    # class 0x03xxxx: display controllers (VGA and 3D); 0x10de also makes audio functions and NVSwitches
    if [ "$(cat "$dev/vendor" 2>/dev/null)" = 0x10de ] && case "$(cat "$dev/class" 2>/dev/null)" in 0x03*) true ;; *) false ;; esac; then
      return 0
    fi
  done
  return 1
}

# The wheel pip would take for a requirement, without installing it (pip's --dry-run --report).
resolved_url() {
  local report
  report="$(mktemp)"
  if "$vpy" -m pip install -q --dry-run --no-deps --ignore-installed --report "$report" "$@" >/dev/null 2>&1; then
    "$vpy" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["install"][0]["download_info"]["url"])' "$report"
  fi
  rm -f "$report"
}

installed_torch() {
  "$vpy" -c 'import torch; print(torch.__version__, "cuda " + torch.version.cuda if torch.version.cuda else "cpu")' 2>/dev/null
}

if [ "$torch_choice" = auto ]; then
  if has_nvidia_gpu; then torch_choice=cuda; else torch_choice=cpu; fi
  echo "torch: IPEX_TORCH=auto chose the $torch_choice build (NVIDIA GPU $([ "$torch_choice" = cuda ] && echo found || echo not found))" >&2
fi

# constraints.txt pins the rest; its torch pin only applies to the local CPU wheel.
constraints="$(mktemp)"
grep -v '^torch==' "$root/constraints.txt" > "$constraints"
case "$torch_choice" in
  cpu)
    current="$(installed_torch || true)"
    if [ "${current% cpu}" != "$current" ]; then
      : # a CPU build is already there: keep it
    else
      pin="$(grep '^torch==' "$root/constraints.txt")"
      url="$(resolved_url "$pin")"
      case "$url" in
        *%2Bcpu*|*+cpu*) "$vpy" -m pip install -q "$pin" ;;
        *)
          # reachable at all? (on offline machines it is not; then stop rather than pull the CUDA build)
          if "$vpy" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)' "$cpu_index/torch/" >/dev/null 2>&1; then
            "$vpy" -m pip install -q --index-url "$cpu_index" torch
          else
            echo "error: no CPU build of torch is reachable: $pin resolves to ${url:-nothing} and $cpu_index does not answer" >&2
            echo "hint: put a torch-*+cpu wheel in pip's find-links, or set IPEX_TORCH=cuda (several GB) or IPEX_TORCH=skip" >&2
            exit 2
          fi
          ;;
      esac
    fi
    ;;
  cuda)
    "$vpy" -m pip install -q torch
    ;;
  skip)
    if ! installed_torch >/dev/null; then
      echo "error: IPEX_TORCH=skip but $venv has no torch; install one first (or leave IPEX_TORCH unset)" >&2
      exit 2
    fi
    ;;
esac
"$vpy" -m pip install -q -c "$constraints" -e "$root[$extras]"
rm -f "$constraints"
took="$(installed_torch || echo none)"
echo "torch: $took in $venv (IPEX_TORCH=${IPEX_TORCH:-auto})" >&2
if [ "$torch_choice" = cuda ] && [ "${took% cpu}" != "$took" ]; then
  echo "warning: asked for a CUDA torch but got $took: no CUDA build was reachable from pip's indexes" >&2
fi
