#!/usr/bin/env bash
# What we run on a lent NVIDIA H100 in one call (the results are in docs/results/, the numbers in
# docs/benchmarks.md). Needs: .whl/ holding our wheel (`pip wheel --no-deps . -w .whl`) and the wheels the
# machine lacks (diffusers, platformdirs, tomli-w, importlib_metadata, zipp); $OUT is where files go back.
#   part A: GPU tests, harness vs triton do_bench, quick suite end to end + its report
#   part B: SD1.5 pipeline vs diffusers' StableDiffusionPipeline, standard suite report
#   part C: the reports committed under docs/results/ (quick and standard suites) and the GPU benchmark tests
#   part H: any GPU (H200 first): quick and standard suites recorded in the run history, the history listing and
#           a trend, the history database itself. Screenshots are taken where Chromium is (not on the lent
#           machines): python benchmarks/render_report.py rH/quick/results.html docs/screenshots/<gpu>-quick.png
set -u
part="${1:-A}"
export IPEX_INTEGRATION_HOME="$(mktemp -d)" PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-cache-dir .whl/*.whl || exit 1
R="$OUT/r$part"; mkdir -p "$R"
if [ "$part" = A ]; then
  nvidia-smi > "$R/nvidia-smi.txt" 2>&1
  { ipex devices; ipex devices --json; ipex status; echo "status rc=$?"; } > "$R/devices-status.txt" 2>&1
  timeout 240 python3 -m pytest -q -p no:cacheprovider -m "not slow" tests/bench/test_gpu.py tests/bench/test_sd.py \
    tests/runtime/test_gpu_probe.py tests/hardware tests/plan tests/status tests/test_cli_real_machine.py \
    > "$R/pytest-gpu.txt" 2>&1; echo "pytest rc=$?"
  timeout 120 python3 benchmarks/harness_vs_do_bench.py --rounds 5 > "$R/harness_vs_do_bench.txt" 2>&1; echo "do_bench rc=$?"
  timeout 120 python3 benchmarks/quick_suite_time.py > "$R/quick_suite_time.txt" 2>&1; echo "quick time rc=$?"
  timeout 120 ipex-benchmark --suite quick --output "$R/h100-quick" --format json,csv,html,png > "$R/quick.txt" 2>&1
  echo "quick rc=$?"
elif [ "$part" = C ]; then
  timeout 150 python3 -m pytest -q -p no:cacheprovider tests/bench/test_gpu.py tests/bench/test_sd.py tests/bench/test_harness.py \
    > "$R/pytest-bench-gpu.txt" 2>&1; echo "pytest rc=$?"
  timeout 120 ipex-benchmark --suite quick --output "$R/h100-quick" --format json,csv,html,png > "$R/quick.txt" 2>&1
  echo "quick rc=$?"
  timeout 280 ipex-benchmark --suite standard --output "$R/h100-standard" --format json,csv,html,png > "$R/standard.txt" 2>&1
  echo "standard rc=$?"
elif [ "$part" = H ]; then
  nvidia-smi > "$R/nvidia-smi.txt" 2>&1
  timeout 150 ipex-benchmark --suite quick --output "$R/quick" --format json,csv,html,png > "$R/quick.txt" 2>&1
  echo "quick rc=$?"
  timeout 330 ipex-benchmark --suite standard --output "$R/standard" --format json,csv,html,png > "$R/standard.txt" 2>&1
  echo "standard rc=$?"
  { ipex-benchmark history; ipex-benchmark history --plot matmul --dtype bf16; } > "$R/history.txt" 2>&1
  ipex-benchmark history --json > "$R/history.json" 2>&1
  ipex-benchmark history --plot matmul --output "$R/trend-matmul.png" >> "$R/history.txt" 2>&1
  cp "$IPEX_INTEGRATION_HOME/data/history.sqlite3" "$R/" 2>/dev/null
  gzip -9 "$R/standard/results.json"  # raw samples make it large
else
  timeout 300 python3 benchmarks/sd_vs_diffusers.py --json "$R/sd_vs_diffusers_h100.json" > "$R/sd_vs_diffusers.txt" 2>&1
  echo "sd rc=$?"
  timeout 240 ipex-benchmark --suite standard --output "$R/h100-standard" --format json,csv,html,png > "$R/standard.txt" 2>&1
  echo "standard rc=$?"
fi
tar czf "$OUT/h100-$part.tar.gz" -C "$OUT" "r$part"
tail -n 8 "$R"/*.txt
