#!/usr/bin/env bash
# One call on a lent NVIDIA H200 (device tool, kind nvidia-h200): the GPU tests, then ipex-benchmark's quick and
# standard suites recorded in the run history, the history listing and a trend, all packed into one archive in
# $OUT (the tool brings back at most 8 files). Committed under docs/results/h200/; numbers in docs/benchmarks.md.
#
# Needs .whl/ (carried): our wheel (`pip wheel --no-deps . -w .whl`) and the wheels the H200 image lacks:
# diffusers, platformdirs, tomlkit, importlib_metadata, zipp (downloaded for Python 3.12, see
# /work/.library/device/README.md). Run:  bash benchmarks/h200_session.sh   (carry [".whl"])
# Screenshots: where Chromium is (not on the lent machines):
#   python benchmarks/render_report.py docs/results/h200/quick/results.html docs/screenshots/h200-quick.png
set -u
export PYTHONUNBUFFERED=1 IPEX_INTEGRATION_HOME="$(mktemp -d)"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PATH="/tmp/site/bin:$PATH"
R=/tmp/h200; mkdir -p "$R"
{
  nvidia-smi
  python3 -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))'
} > "$R/machine.txt" 2>&1
{ ipex devices; ipex status; echo "status rc=$?"; } > "$R/devices-status.txt" 2>&1
timeout 200 python3 -m pytest -q -p no:cacheprovider --continue-on-collection-errors -m gpu tests > "$R/pytest-gpu.txt" 2>&1
echo "pytest -m gpu rc=$?" | tee -a "$R/pytest-gpu.txt"
timeout 120 python3 benchmarks/quick_suite_time.py > "$R/quick_suite_time.txt" 2>&1; echo "quick time rc=$?"
timeout 150 ipex-benchmark --suite quick --output "$R/quick" --format json,csv,html,png > "$R/quick.txt" 2>&1
echo "quick rc=$?"
timeout 300 ipex-benchmark --suite standard --output "$R/standard" --format json,csv,html,png > "$R/standard.txt" 2>&1
echo "standard rc=$?"
{ ipex-benchmark history; ipex-benchmark history --plot matmul --dtype bf16; } > "$R/history.txt" 2>&1
ipex-benchmark history --json > "$R/history.json" 2>&1
ipex-benchmark history --plot matmul --dtype bf16 --output "$R/trend-matmul-bf16.png" > /dev/null 2>&1
cp "$IPEX_INTEGRATION_HOME"/data/history.sqlite3 "$R/" 2>/dev/null
tar -C /tmp -cJf "$OUT/h200.tar.xz" h200 && ls -la "$OUT"
tail -3 "$R/pytest-gpu.txt" "$R/quick.txt" "$R/standard.txt"
