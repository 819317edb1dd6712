#!/usr/bin/env bash
# Issue 8's run on a lent machine with two NVIDIA GPUs (kind nvidia-h100-x2), in one call, from the repo root.
# Needs .whl/ (our wheel and the missing wheels) and .comfy/ (ComfyUI source + its wheels), as
# scripts/device/comfyui_cuda.sh describes. Writes to $OUT/two/: what each step printed, nvidia-smi samples
# taken during the runs, and the benchmark reports; $OUT/two.tar.gz holds all of it.
#   1. `ipex devices` lists both GPUs
#   2. `ipex-benchmark --cuda-device 1`: runs on GPU 1 while GPU 0 stays idle (nvidia-smi sampled meanwhile)
#   3. `ipex-benchmark --devices cuda`: both GPUs, one comparative report
#   4. ComfyUI on one GPU and a benchmark on the other at the same time (two launchers), each process seeing
#      only its own GPU (nvidia-smi --query-compute-apps shows which PID holds which GPU)
#   5. `ipex up` with the real ComfyUI and the test double of ollama (Ollama can't be carried there): its
#      placement and the environment each child got
set -u
: "${OUT:?OUT must name a folder}"
# NVLink multicast stays off on shared multi-GPU hosts (the device tool's rule), in every child too.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONUNBUFFERED=1 IPEX_INTEGRATION_HOME="$(mktemp -d)"
R="$OUT/two"; mkdir -p "$R"
log() { echo "$*" | tee -a "$R/steps.log"; }
smi_sample() { nvidia-smi --query-gpu=timestamp,index,uuid,utilization.gpu,memory.used --format=csv -lms 500 > "$1" 2>&1 & echo $!; }
# wait_http URL SECONDS: 0 once URL answers; fetch URL: print its body (python3, since curl may be absent)
wait_http() { for _ in $(seq 1 "$2"); do fetch "$1" > /dev/null 2>&1 && return 0; sleep 1; done; return 1; }
fetch() { python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"; }

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .whl/*.whl .comfy/wheels/*.whl >> "$R/steps.log" 2>&1
python3 -m pip install -q --no-index --no-cache-dir --find-links .comfy/extra "typing_extensions>=4.16" >> "$R/steps.log" 2>&1
nvidia-smi -L > "$R/nvidia-smi-L.txt" 2>&1
timeout 30 ipex comfyui use .comfy/ComfyUI >> "$R/steps.log" 2>&1
front="$IPEX_INTEGRATION_HOME/frontend"; mkdir -p "$front"; echo '<!doctype html><p>stub</p>' > "$front/index.html"

# ONLY_UP=1 runs step 5 alone, with the comparison committed in docs/results/h100x2 deciding the placement.
if [ -z "${ONLY_UP:-}" ]; then
# 1. devices
timeout 120 ipex devices > "$R/devices.txt" 2>&1; log "ipex devices rc=$?"
timeout 120 ipex devices --json > "$R/devices.json" 2>&1; log "ipex devices --json rc=$?"
timeout 60 ipex devices --cuda-device 1 > "$R/devices-cuda1.txt" 2>&1; log "ipex devices --cuda-device 1 rc=$?"

# 2. GPU 1 only
s=$(smi_sample "$R/smi-cuda1.csv")
timeout 150 ipex-benchmark --cuda-device 1 --suite quick --output "$R/cuda1" --format json,csv,html > "$R/cuda1.txt" 2>&1
log "ipex-benchmark --cuda-device 1 rc=$?"; kill "$s"

# 3. both GPUs, one report
timeout 200 ipex-benchmark --devices cuda --suite quick --output "$R/both" --format json,csv,html,png > "$R/both.txt" 2>&1
log "ipex-benchmark --devices cuda rc=$?"

# 4. two launchers at once: ComfyUI on GPU 0, the SD benchmark on GPU 1
timeout 30 ipex comfyui use .comfy/ComfyUI >> "$R/steps.log" 2>&1
timeout -s INT 330 comfyui-ipex --cuda-device 0 --port 8190 --front-end-root "$front" > "$R/comfyui-gpu0.log" 2>&1 & c=$!
wait_http http://127.0.0.1:8190/system_stats 120; log "comfyui on GPU 0 answered rc=$?"
fetch http://127.0.0.1:8190/system_stats > "$R/system_stats_gpu0.json" 2>&1
s=$(smi_sample "$R/smi-concurrent.csv")
timeout 150 ipex-benchmark --cuda-device 1 --suite quick --only sd --output "$R/sd-gpu1" --format json > "$R/sd-gpu1.txt" 2>&1 & b=$!
sleep 25
{ echo "# while ComfyUI (launcher pid $c) runs on GPU 0 and ipex-benchmark (pid $b) on GPU 1";
  nvidia-smi --query-gpu=index,uuid --format=csv;
  nvidia-smi --query-compute-apps=pid,process_name,gpu_uuid,used_memory --format=csv;
  ps -eo pid,ppid,args | grep -E 'bootstrap|bench.worker|comfyui|ipex-benchmark' | grep -v grep; } > "$R/compute-apps.txt" 2>&1
wait "$b"; log "sd benchmark on GPU 1 (concurrent) rc=$?"; kill "$s"
kill -INT "$c"; wait "$c"; log "comfyui-ipex after SIGINT rc=$?"

fi

# 5. ipex up: ComfyUI + (fake) Ollama, placed on different GPUs
RESULTS=()
for f in "$R/both/results.json" docs/results/h100x2/both/results.json; do
  [ -f "$f" ] && { RESULTS=(--results "$f"); break; }
done
export FAKE_OLLAMA_ENV_FILE="$R/ollama-env.jsonl" FAKE_OLLAMA_CUDA_GPUS="NVIDIA H100 80GB HBM3,NVIDIA H100 80GB HBM3"
timeout 120 ipex up --dry-run --ollama-bin "$PWD/tests/fakes/fake_ollama.py" "${RESULTS[@]}" \
  --port 8191 -- --front-end-root "$front" > "$R/up-dry-run.txt" 2>&1; log "ipex up --dry-run rc=$?"
timeout -s INT 200 ipex up --ollama-bin "$PWD/tests/fakes/fake_ollama.py" "${RESULTS[@]}" --port 8191 \
  -- --front-end-root "$front" > "$R/up.log" 2>&1 & u=$!
wait_http http://127.0.0.1:8191/system_stats 120; log "ipex up: comfyui answered rc=$?"
wait_http http://127.0.0.1:11434/api/version 30; log "ipex up: ollama answered rc=$?"
{ nvidia-smi --query-compute-apps=pid,process_name,gpu_uuid,used_memory --format=csv;
  ps -eo pid,ppid,args | grep -E 'bootstrap|fake_ollama' | grep -v grep;
  for p in $(pgrep -f 'bootstrap.py|comfyui.bootstrap'); do echo "pid $p:"; tr '\0' '\n' < /proc/$p/environ | grep -E '^(CUDA_VISIBLE_DEVICES|CUDA_DEVICE_ORDER)='; done
} > "$R/up-processes.txt" 2>&1
fetch http://127.0.0.1:8191/system_stats > "$R/up_system_stats.json" 2>&1
kill -INT "$u"; wait "$u"; log "ipex up after SIGINT rc=$?"

tar czf "$OUT/two.tar.gz" -C "$OUT" two
log "done after ${SECONDS}s"
cat "$R/compute-apps.txt" "$R/up-processes.txt" 2> /dev/null
