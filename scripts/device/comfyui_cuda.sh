#!/usr/bin/env bash
# A REAL ComfyUI started by our launchers on a lent NVIDIA machine, in one call, from the repo root.
#
# Needs (ignored folders, named in `carry`):
#   .whl/            our wheel (`pip wheel --no-deps . -w .whl`) and its missing dependencies
#   .comfy/ComfyUI   a ComfyUI source tree (no .git)
#   .comfy/wheels    wheels of ComfyUI's requirements the machine lacks (pip install --no-deps)
#   .comfy/extra     wheels installed only where the machine's own copy is too old (typing_extensions)
# Writes to $OUT: steps.log (every step), pytest.txt, comfyui_cuda.log / comfyui_cpu.log (ComfyUI's output),
# system_stats_cuda.json / system_stats_cpu.json, summary.txt. Every step has a timeout and the whole script
# stays inside DEADLINE_S seconds.
set -u
: "${OUT:?OUT must name a folder for the results}"
DEADLINE_S=${DEADLINE_S:-450}
CUDA_PORT=8190 CPU_PORT=8191 XPU_PORT=8192
CHECKOUT=.comfy/ComfyUI
export PYTHONUNBUFFERED=1 IPEX_INTEGRATION_HOME="$(mktemp -d)"
STEPS="$OUT/steps.log" SUMMARY="$OUT/summary.txt"
: > "$STEPS"; : > "$SUMMARY"

log() { echo "$*" | tee -a "$STEPS"; }
result() { echo "$*" | tee -a "$SUMMARY" >> "$STEPS"; }
# Seconds a step may take: its own limit, cut to what is left before the deadline (at least 5).
budget() { local left=$((DEADLINE_S - SECONDS - 10)); [ "$left" -lt "$1" ] && echo $((left > 5 ? left : 5)) || echo "$1"; }
# step NAME LIMIT CMD...: run CMD with its output in steps.log; sets $rc.
step() {
  local name=$1 limit; limit=$(budget "$2"); shift 2
  log "== $name (timeout ${limit}s): $*"
  timeout -k 5 "$limit" "$@" >> "$STEPS" 2>&1; rc=$?
  log "== $name: rc=$rc after ${SECONDS}s"
}

# The card this call landed on (an H100 for kind nvidia-h100-x1): ComfyUI must report it by name.
export GPU_NAME="$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader 2> /dev/null | head -n 1)"
log "machine: $(timeout 20 nvidia-smi -L 2>&1 | head -n 2 | tr '\n' ' ')"
log "python3: $(command -v python3) $(python3 -V 2>&1)"
result "gpu: ${GPU_NAME:-none found by nvidia-smi}"

# --- install -------------------------------------------------------------------------------------------
step install 120 python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .whl/*.whl .comfy/wheels/*.whl
result "install: rc=$rc"
if ls .comfy/extra/*.whl > /dev/null 2>&1; then
  # pydantic needs typing_extensions>=4.16; keep the machine's copy if it is new enough.
  step extra 60 python3 -m pip install -q --no-index --no-cache-dir --find-links .comfy/extra "typing_extensions>=4.16"
fi
# A wheel older than the source tree would test old code: install the tree instead.
if ! python3 - <<'PY' >> "$STEPS" 2>&1
import filecmp, pathlib, sys
import ipex_integration
installed, source = pathlib.Path(ipex_integration.__file__).parent, pathlib.Path("src/ipex_integration")
stale = [str(p.relative_to(source)) for p in source.rglob("*.py")
         if not (installed / p.relative_to(source)).is_file()
         or not filecmp.cmp(p, installed / p.relative_to(source), shallow=False)]
print(f"installed ipex_integration at {installed}: {len(stale)} file(s) differ from src/: {stale[:8]}")
sys.exit(1 if stale else 0)
PY
then
  step install-source 120 python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir .
  result "our wheel was stale: installed from the source tree (rc=$rc)"
fi
step pip-check 60 python3 -m pip check  # for the record only (--no-deps installs are not checked)

# ComfyUI needs a front end to serve: the real one where comfyui-frontend-package is installed, else a stub.
FRONT=()
if ! python3 -c "import comfyui_frontend_package" 2> /dev/null; then
  front="$IPEX_INTEGRATION_HOME/frontend"; mkdir -p "$front"
  echo '<!doctype html><title>ComfyUI</title><p>stub front end</p>' > "$front/index.html"
  FRONT=(--front-end-root "$front")
fi
log "front end: ${FRONT[*]:-comfyui-frontend-package}"

step use 30 ipex comfyui use "$CHECKOUT"
result "ipex comfyui use: rc=$rc"
step dry-run-cuda 90 comfyui-cuda --dry-run "${FRONT[@]}"
result "comfyui-cuda --dry-run: rc=$rc"
step dry-run-auto-json 60 comfyui-ipex --dry-run --json "${FRONT[@]}"
result "comfyui-ipex --dry-run --json: rc=$rc"

# --- a direct launch: start, wait for /system_stats, Ctrl-C, exit code -----------------------------------
# launch NAME PORT CHECK LAUNCHER ARGS...: CHECK is a Python expression on `d` (the JSON) that must hold.
launch() {
  local name=$1 port=$2 check=$3; shift 3
  local out="$OUT/system_stats_$name.json" comfy_log="$OUT/comfyui_$name.log" limit pid waited
  limit=$(budget 120)
  log "== launch $name: $* --port $port (answer within ${limit}s)"
  "$@" "${FRONT[@]}" --port "$port" > "$comfy_log" 2>&1 &
  pid=$!
  python3 - "$port" "$out" "$limit" "$pid" "$check" <<'PY' 2>&1 | tee -a "$STEPS"
import json, os, sys, time, urllib.request
port, out, limit, pid, check = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5]
start = time.monotonic()

def alive() -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

while time.monotonic() - start < limit and alive():
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/system_stats", timeout=5) as response:
            d = json.load(response)
    except Exception:
        time.sleep(0.5)
        continue
    with open(out, "w") as f:
        json.dump(d, f, indent=2)
    ok = eval(check)
    print(f"answered after {time.monotonic() - start:.1f}s, check {'passed' if ok else 'FAILED'} ({check}): "
          f"device {d['devices'][0]}, torch {d['system']['pytorch_version']}, ComfyUI {d['system']['comfyui_version']}")
    sys.exit(0 if ok else 3)
print(f"no /system_stats after {time.monotonic() - start:.1f}s (launcher {'running' if alive() else 'exited'})")
sys.exit(2)
PY
  local answered=${PIPESTATUS[0]}
  kill -INT "$pid" 2> /dev/null  # Ctrl-C: the launcher forwards it to ComfyUI's process group
  for waited in $(seq 1 "$(budget 40)"); do kill -0 "$pid" 2> /dev/null || break; sleep 1; done
  if kill -0 "$pid" 2> /dev/null; then
    log "launcher $pid still running 40 s after SIGINT: SIGTERM, then SIGKILL of its child's group"
    kill -TERM "$pid" 2> /dev/null; sleep 5
    for child in $(pgrep -P "$pid"); do kill -KILL -- "-$child" 2> /dev/null; done
    kill -KILL "$pid" 2> /dev/null
  fi
  wait "$pid"; local code=$?
  local stopped=no; grep -q "Stopped server" "$comfy_log" && stopped=yes
  result "launch $name: system_stats check rc=$answered (0 = passed), launcher exit code after SIGINT=$code, 'Stopped server' logged: $stopped"
  [ -s "$out" ] && result "  reported: $(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); v = d["devices"][0]; print(v["type"], "|", v["name"], "|", v["vram_total"] >> 20, "MiB | torch", d["system"]["pytorch_version"])' "$out")"
  tail -n 5 "$comfy_log" | sed "s/^/  [$name] /" >> "$STEPS"
}

launch cuda "$CUDA_PORT" "d['devices'][0]['type'] == 'cuda' and (os.environ['GPU_NAME'] or '?') in d['devices'][0]['name']" comfyui-ipex

# --- the real-ComfyUI test, on CUDA -------------------------------------------------------------------------
limit=$(budget 180)
log "== pytest (timeout ${limit}s)"
COMFYUI_PATH="$CHECKOUT" COMFYUI_BACKEND=cuda COMFYUI_ARGS="${FRONT[*]}" timeout -k 10 "$limit" \
  python3 -m pytest -p no:cacheprovider tests/comfyui/test_real_comfyui.py -q -s > "$OUT/pytest.txt" 2>&1
rc=$?
result "pytest tests/comfyui/test_real_comfyui.py (cuda): rc=$rc: $(grep -E '(passed|failed|skipped|error)' "$OUT/pytest.txt" | tail -n 1)"

launch cpu "$CPU_PORT" "d['devices'][0]['type'] == 'cpu'" comfyui-ipex --cpu

# --- comfyui-xpu on a machine without an Intel GPU: a clear error, no traceback ----------------------------
limit=$(budget 60)
timeout -k 5 "$limit" comfyui-xpu --port "$XPU_PORT" > "$IPEX_INTEGRATION_HOME/xpu.out" 2> "$IPEX_INTEGRATION_HOME/xpu.err"
rc=$?
{ echo "== comfyui-xpu --port $XPU_PORT: rc=$rc; stderr:"; cat "$IPEX_INTEGRATION_HOME/xpu.err"; } >> "$STEPS"
traceback=no; grep -q Traceback "$IPEX_INTEGRATION_HOME/xpu.err" && traceback=yes
result "comfyui-xpu: rc=$rc, stderr lines=$(wc -l < "$IPEX_INTEGRATION_HOME/xpu.err"), traceback=$traceback: $(head -n 1 "$IPEX_INTEGRATION_HOME/xpu.err")"

result "total: ${SECONDS}s"
echo "---- summary"; cat "$SUMMARY"
