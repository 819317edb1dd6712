"""Time our NAR hash against `nix hash path` on the same ~100 MB tree of mixed files; print the speed ratio.

    python benchmarks/nar_hash_vs_nix.py [--mib 100] [--runs 7] [--keep DIR]

The tree: thousands of small files in nested directories (some executable), a hundred medium files, a few
large ones, symlinks to files, to directories and dangling ones, empty files and empty directories. Contents are
random bytes (seeded), so the hash is stable for one seed. Both tools run once untimed first (warm page cache),
then `--runs` times each, alternating; the median is reported. `nix` runs as a process (as users run it), so its
time includes its start-up, which is printed separately (measured on an empty directory) for context.

Goal (issue #5): ours at least 0.8x nix's speed, i.e. time_ours <= time_nix / 0.8.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ipex_integration.nodes.nar import nar_hash

NIX = ("nix", "--extra-experimental-features", "nix-command", "hash", "path")
GOAL = 0.8


def build_tree(root: Path, total_mib: int, seed: int = 5) -> tuple[int, int]:
    """Fill `root` with about `total_mib` MiB; returns (files, bytes)."""
    rng = random.Random(seed)
    budget = total_mib << 20
    # Budget split: 30% small files, 30% medium, 40% large.
    small_bytes, medium_bytes = budget * 30 // 100, budget * 30 // 100
    large_bytes = budget - small_bytes - medium_bytes
    files = written = 0

    def put(path: Path, size: int, executable: bool = False) -> None:
        nonlocal files, written
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
        if executable:
            path.chmod(0o755)
        files += 1
        written += size

    dirs = [root / f"pkg{a}" / f"mod{b}" / f"sub{c}" for a in range(8) for b in range(8) for c in range(6)]
    used = 0
    i = 0
    while used < small_bytes:
        size = rng.choice((0, rng.randrange(1, 512), rng.randrange(512, 16384)))
        put(dirs[i % len(dirs)] / f"file_{i}.py", size, executable=(i % 13 == 0))
        used += size
        i += 1
    used = 0
    j = 0
    while used < medium_bytes:
        size = rng.randrange(64 << 10, 1 << 20)
        put(root / "assets" / f"blob_{j}.bin", size, executable=(j % 7 == 0))
        used += size
        j += 1
    k = 0
    while large_bytes > 0:
        size = min(large_bytes, 16 << 20)
        put(root / "models" / f"weights_{k}.safetensors", size)
        large_bytes -= size
        k += 1
    for n in range(300):  # symlinks: to files, to directories, dangling
        d = dirs[n % len(dirs)]
        kind = n % 3
        target = "file_0.py" if kind == 0 else ("../" if kind == 1 else f"missing_{n}")
        os.symlink(target, d / f"link_{n}")
    for n in range(50):
        (root / "empty" / f"e{n}").mkdir(parents=True)
    return files, written


def time_ours(tree: Path) -> tuple[float, str]:
    start = time.perf_counter()
    value = nar_hash(tree, exclude_git=False)
    return time.perf_counter() - start, value


def time_nix(tree: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([*NIX, str(tree)], capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=100, help="tree size in MiB (default 100)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per tool (default 7)")
    parser.add_argument("--keep", type=Path, help="build the tree here and keep it")
    args = parser.parse_args(argv)
    if shutil.which("nix") is None:
        print("nix is not installed (apt-get install nix-bin); cannot compare", file=sys.stderr)
        return 2

    base = args.keep or Path(tempfile.mkdtemp(prefix="nar-bench-"))
    tree = base / "tree"
    try:
        if not tree.exists():
            files, size = build_tree(tree, args.mib)
            print(f"tree: {files} files, {size / 2**20:.1f} MiB, in {tree}")
        empty = base / "empty"
        empty.mkdir(exist_ok=True)
        startup = statistics.median(time_nix(empty)[0] for _ in range(5))

        _, ours_hash = time_ours(tree)  # warm-up: page cache, imports
        _, nix_hash = time_nix(tree)
        if ours_hash != nix_hash:
            print(f"MISMATCH: ours {ours_hash} nix {nix_hash}", file=sys.stderr)
            return 1
        ours, nix = [], []
        for _ in range(args.runs):
            ours.append(time_ours(tree)[0])
            nix.append(time_nix(tree)[0])
        t_ours, t_nix = statistics.median(ours), statistics.median(nix)
        ratio = t_nix / t_ours  # >1: ours is faster
        print(f"hash (both): {ours_hash}")
        print(f"ours: median {t_ours * 1000:.1f} ms  (min {min(ours) * 1000:.1f}, max {max(ours) * 1000:.1f}, n={args.runs})")
        print(f"nix:  median {t_nix * 1000:.1f} ms  (min {min(nix) * 1000:.1f}, max {max(nix) * 1000:.1f}, n={args.runs}); "
              f"its start-up alone: {startup * 1000:.1f} ms")
        print(f"speed ratio ours/nix: {ratio:.2f}x  (goal >= {GOAL}x: {'met' if ratio >= GOAL else 'NOT met'})")
        return 0 if ratio >= GOAL else 1
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
