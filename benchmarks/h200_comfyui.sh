#!/usr/bin/env bash
# ComfyUI's own speed on one lent NVIDIA H200, in one call, offline: ComfyUI started by our launcher pipeline
# (as comfyui-cuda starts it) vs stock `python main.py` of the same checkout, alternating, vs the project's
# diffusers pipeline; random-weight checkpoints made there by our own module (nothing downloaded).
#   SD1.5 512x512 20 steps batch 1 and 4; SDXL 1024x1024 20 steps batch 1; medians over alternating runs;
#   the ratio ours/stock printed (goal: >= 0.98). Reports (json/csv/html) are written into $OUT.
#
# What must be carried (the folder named by $CARRY, default .comfy-carry, git-ignored; under 60 MB):
#   comfyui.tar.xz   the ComfyUI source tree without .git (ComfyUI/ at its top; 0.3.64 as fetched)
#   *.whl            our wheel (pip wheel --no-deps . -w $CARRY) and what ComfyUI and we need that the H200
#                    image lacks (its package list: /work/.library/device/KINDS.md), for Python 3.12:
#                    av, torchsde, trampoline, pydantic, pydantic-core, pydantic-settings, python-dotenv,
#                    annotated-types, typing-inspection (ComfyUI); diffusers (the peer); websocket-client,
#                    tomlkit, platformdirs, ollama (ours).
#   Left out on purpose: comfyui-frontend-package (an empty --front-end-root serves the API just the same),
#   comfyui-workflow-templates / comfyui-embedded-docs (UI only), SQLAlchemy / alembic (ComfyUI runs without
#   its assets database), kornia / spandrel (nodes we do not use).
# The device call:  run(command="bash benchmarks/h200_comfyui.sh", carry=[".comfy-carry"], timeout_s=600)
set -u
CARRY="${CARRY:-.comfy-carry}"
OUT="${OUT:-$(mktemp -d)}"
export PYTHONUNBUFFERED=1 IPEX_INTEGRATION_HOME="$(mktemp -d)"
python3 -m pip install -q --no-index --no-deps --no-cache-dir "$CARRY"/*.whl || exit 1
work="$(mktemp -d)"
tar -xJf "$CARRY/comfyui.tar.xz" -C "$work" || exit 1
COMFY="$work/ComfyUI"
frontend="$work/frontend"; mkdir -p "$frontend"; echo '<!doctype html><title>API only</title>' > "$frontend/index.html"
{ nvidia-smi; python3 -c 'import torch, transformers; print(torch.__version__, transformers.__version__)'; } \
  > "$OUT/machine.txt" 2>&1
common=(--comfyui "$COMFY" --cuda --peer both --comfyui-args "--front-end-root $frontend" --warmup 1)
timeout 270 ipex-benchmark comfyui "${common[@]}" --model sd15 --batch 1,4 --width 512 --height 512 --steps 20 \
  --images 5 --repetitions 3 --format json --output "$OUT/sd15" > "$OUT/sd15.txt" 2> "$OUT/sd15.log"
echo "sd15 rc=$?"; cat "$OUT/sd15.txt"
timeout 290 ipex-benchmark comfyui "${common[@]}" --model sdxl --batch 1 --width 1024 --height 1024 --steps 20 \
  --images 2 --repetitions 3 --format json --output "$OUT/sdxl" > "$OUT/sdxl.txt" 2> "$OUT/sdxl.log"
echo "sdxl rc=$?"; cat "$OUT/sdxl.txt"
tail -5 "$OUT"/*.log
