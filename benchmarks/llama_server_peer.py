"""A real LLM server to measure against: llama-cpp-python's OpenAI-compatible server with a tiny random-weight
llama GGUF made here (no download), on loopback, under the project's supervisor.

    python benchmarks/llama_server_peer.py [--python PY] [--build] [--serve-only]
                                           [ipex-benchmark llm options: --concurrency 1,4,16 --requests N ...]

- finds `llama_cpp` (+ its server extra) in PY (default: this interpreter); with --build, installs
  llama-cpp-python[server] 0.3.36 into PY first (a 10-15 minute compile on 2 cores; pip's wheel cache keeps
  the result for the next time);
- makes the model (cached under the cache dir by its recipe hash), starts `PY -m llama_cpp.server` on a free
  port, waits until GET /v1/models answers;
- --serve-only: prints the URL and model and serves until Ctrl-C; otherwise runs
  `ipex-benchmark llm --api openai --url URL --model MODEL` with the remaining options (default: the serving
  sweep --concurrency 1,4,16 --requests 16 --prompt-tokens 128 --max-tokens 64) and stops the server.
Exit code: the benchmark's (4 when a token count disagreed), or the error boundary's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "src")]

from ipex_integration.cli.common import run_cli  # noqa: E402
from ipex_integration.llama.peer import LLAMA_CPP_PYTHON, LlamaPeer, llama_cpp_version  # noqa: E402
from ipex_integration.proc import run_command  # noqa: E402

BUILD_TIMEOUT_S = 3600.0
DEFAULT_SWEEP = ["--concurrency", "1,4,16", "--requests", "16", "--prompt-tokens", "128", "--max-tokens", "64"]


def build(python: str) -> None:
    from ipex_integration.llama import LlamaError

    print(f"llama_server_peer: installing {LLAMA_CPP_PYTHON} into {python} (compiles llama.cpp) ...",
          file=sys.stderr, flush=True)
    result = run_command([python, "-m", "pip", "install", LLAMA_CPP_PYTHON], timeout=BUILD_TIMEOUT_S,
                         env={**__import__("os").environ, "CMAKE_BUILD_PARALLEL_LEVEL": "2"})
    if not result.ok:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise LlamaError(f"pip install {LLAMA_CPP_PYTHON} failed (exit {result.returncode})",
                         hint="\n".join(tail) or None)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter with llama-cpp-python[server]")
    parser.add_argument("--build", action="store_true", help="install llama-cpp-python[server] there when missing")
    parser.add_argument("--serve-only", action="store_true", help="serve until Ctrl-C; measure nothing")
    parser.add_argument("--threads", type=int, default=None, help="the server's --n_threads")
    args, bench_args = parser.parse_known_args(argv)

    def run() -> int:
        if args.build and llama_cpp_version(args.python)[0] is None:
            build(args.python)
        started = time.perf_counter()
        with LlamaPeer.start(python=args.python, threads=args.threads) as peer:
            ready_s = time.perf_counter() - started
            print(f"llama_server_peer: llama-cpp-python {peer.version} ready at {peer.url} in {ready_s:.1f} s; "
                  f"model {peer.model}", file=sys.stderr, flush=True)
            if args.serve_only:
                return peer.server.wait()
            return run_benchmark(peer, bench_args or DEFAULT_SWEEP)

    return run_cli(run, debug="--debug" in argv, prog="llama_server_peer")


def run_benchmark(peer: LlamaPeer, extra: list[str]) -> int:
    import os

    from ipex_integration.bench.device import cpu_info
    from ipex_integration.cli.benchmark import build_parser
    from ipex_integration.cli.benchmark_llm import run_llm, run_serving

    argv = ["llm", "--api", "openai", "--url", peer.url, "--model", peer.model, *extra]
    args = build_parser().parse_args(argv)
    args._argv = argv
    if not args.concurrency:
        return run_llm(args)
    cpu = cpu_info()
    device = {"backend": "cpu", "device_name": str(cpu.get("model") or cpu.get("name") or "CPU"),
              "device": {"server": f"llama-cpp-python {peer.version}", "threads": peer.server.spec.argv[-1]
                         if "--n_threads" in peer.server.spec.argv else "default", "logical_cpus": os.cpu_count()},
              "engine": "llama-cpp-python", "engine_version": peer.version}
    return run_serving(args, environ=os.environ, out=sys.stdout, device=device)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
