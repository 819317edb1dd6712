"""The state layer: concurrent writers keep every entry, comments survive, bad files are one-line errors and
failed writes leave the old file byte-for-byte. Real processes, real files; a real tiny tmpfs for a full disk."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ipex_integration import state
from ipex_integration.errors import ConfigError, FailedError
from ipex_integration.runtime.model import Backend
from ipex_integration.runtime.registry import load_registry, registry_path
from tests.fakes.interpreters import make_fake_python

ROOT = Path(__file__).resolve().parents[1]
CLI = "from ipex_integration.cli.main import main; raise SystemExit(main())"

# Pathological contents every reader must turn into one ConfigError (not a traceback, not a hang).
BAD_TOML = {
    "not UTF-8": b"\xff\xfe[environments.cpu]\n",
    "5,000 digits": b"x = " + b"9" * 5000 + b"\n",
    "100,000 nested arrays": b"x = " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "syntax": b"[environments.cpu\n",
}
BAD_JSON = {
    "not UTF-8": b'\xff{"nodes": {}}',
    "5,000 digits": b'{"version": ' + b"9" * 5000 + b"}",
    "100,000 nested arrays": b"[" * 100_000 + b"]" * 100_000,
    "syntax": b'{"nodes": ',
    "wrong top-level type": b"[1, 2]",
}


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "IPEX_INTEGRATION_HOME": str(home), "PYTHONPATH": str(ROOT / "src")}


# -- concurrency --------------------------------------------------------------------------------------------

# Each worker registers its backend in round 0, 1, ... (a fresh home per round). A file barrier lines the
# workers up at the start of each round, so their read -> probe -> write windows overlap every time.
_ADD_WORKER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from ipex_integration.cli.main import main
    base, backend, python, rounds, workers = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    for r in range(rounds):
        home = base / str(r)
        home.mkdir(parents=True, exist_ok=True)
        (home / f"ready-{backend}").touch()
        deadline = time.monotonic() + 10
        while len(list(home.glob("ready-*"))) < workers and time.monotonic() < deadline:
            time.sleep(0.001)
        os.environ["IPEX_INTEGRATION_HOME"] = str(home)
        rc = main(["env", "add", backend, python, "--force"])
        if rc != 0:
            sys.exit(f"round {r}: exit {rc}")
""")


@pytest.mark.slow
def test_concurrent_env_adds_keep_every_entry(tmp_path):
    rounds = 50
    pythons = {b: make_fake_python(tmp_path / "py", b.value, name=b.value) for b in Backend}
    base = tmp_path / "rounds"
    procs = [
        subprocess.Popen([sys.executable, "-c", _ADD_WORKER, str(base), b.value, str(p), str(rounds), str(len(pythons))],
                         env=_env(tmp_path / "unused"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for b, p in pythons.items()
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), errors
    for r in range(rounds):
        path = base / str(r) / "config" / "environments.toml"
        entries = load_registry(path=path).entries
        assert set(entries) == set(pythons), f"round {r} lost an entry: {path.read_text()}"
        assert not list(path.parent.glob(".environments.toml.*.tmp"))


_NODE_WORKER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from ipex_integration.nodes.state import Installed, update_state
    custom_nodes, worker, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    for i in range(count):
        node = Installed(name=f"{worker}-{i}", url="https://example.invalid/x", rev="0" * 40, hash="sha256-x",
                         installed_hash="sha256-x", installed_at="2026-01-01T00:00:00+00:00")
        update_state(custom_nodes, lambda nodes: nodes.__setitem__(node.name, node))
""")


def test_concurrent_node_state_writers_keep_every_node(tmp_path):
    from ipex_integration.nodes.state import read_state

    custom_nodes = tmp_path / "custom_nodes"
    custom_nodes.mkdir()
    workers, count = 4, 25
    procs = [subprocess.Popen([sys.executable, "-c", _NODE_WORKER, str(custom_nodes), f"w{w}", str(count)],
                              env=_env(tmp_path), stderr=subprocess.PIPE, text=True) for w in range(workers)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * workers, errors
    assert set(read_state(custom_nodes)) == {f"w{w}-{i}" for w in range(workers) for i in range(count)}


def test_lock_blocks_a_second_holder_until_released(tmp_path):
    target = tmp_path / "f.json"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from ipex_integration.state import locked\n"
         "with locked(sys.argv[1]):\n    print('held', flush=True); time.sleep(1.0)", str(target)],
        env=_env(tmp_path), stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    import time

    started = time.monotonic()
    with state.locked(target):
        waited = time.monotonic() - started
    holder.wait(timeout=10)
    assert waited > 0.3  # it really waited for the other process


# -- comments -----------------------------------------------------------------------------------------------


def test_env_add_keeps_the_users_comments_and_order(tmp_path):
    path = registry_path()
    path.parent.mkdir(parents=True)
    original = ('# my machines\n[future]\nkey = "kept"  # do not touch\n\n'
                '# the cuda one\n[environments.cuda]\npython = "/opt/cuda/bin/python"  # pinned\n')
    path.write_text(original)
    python = make_fake_python(tmp_path, "cpu")
    done = subprocess.run([sys.executable, "-c", CLI, "env", "add", "cpu", str(python), "--force"],
                          env=_env(path.parent.parent), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    text = path.read_text()
    assert text.startswith(original)  # every byte the user wrote, in place
    assert load_registry().entries == {Backend.CUDA: "/opt/cuda/bin/python", Backend.CPU: str(python)}


def test_remove_keeps_comments_of_other_entries():
    path = registry_path()
    path.parent.mkdir(parents=True)
    path.write_text('# top\n[environments.cpu]\npython = "/a"\n\n[environments.xpu]  # intel\npython = "/b"\n')
    registry = load_registry()
    registry.remove(Backend.CPU)
    registry.save()
    assert "# top" in path.read_text() and "# intel" in path.read_text()
    assert load_registry().entries == {Backend.XPU: "/b"}


def test_register_checkout_keeps_comments_in_config_toml(tmp_path):
    from ipex_integration.comfyui.checkout import Checkout, config_file, read_registry, register_checkout

    path = config_file()
    path.parent.mkdir(parents=True)
    path.write_text("# my settings\n[other]\nx = 1  # why\n")
    register_checkout(Checkout(tmp_path, "0.3.47", "test", "test", None))
    assert path.read_text().startswith("# my settings\n[other]\nx = 1  # why\n")
    assert read_registry()["path"] == str(tmp_path)


# -- bad files ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(BAD_TOML))
def test_bad_registry_is_one_line_exit_2_and_untouched(case, isolated_home):
    path = registry_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(BAD_TOML[case])
    before = os.stat(path)
    done = subprocess.run([sys.executable, "-c", CLI, "env", "remove", "cpu"], env=_env(isolated_home),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and str(path) in done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith("ipex: error: ") and len(first) < 400
    assert path.read_bytes() == BAD_TOML[case] and os.stat(path).st_mtime_ns == before.st_mtime_ns


@pytest.mark.parametrize("case", sorted(BAD_JSON))
def test_bad_json_files_are_config_errors_naming_the_file(case, tmp_path):
    from ipex_integration.nodes.lock import read_lock
    from ipex_integration.nodes.state import read_state, state_path

    lock = tmp_path / "nodes.lock.json"
    lock.write_bytes(BAD_JSON[case])
    nodes = tmp_path / "custom_nodes"
    nodes.mkdir()
    state_path(nodes).write_bytes(BAD_JSON[case])
    for read, path in ((lambda: read_lock(lock), lock), (lambda: read_state(nodes), state_path(nodes))):
        with pytest.raises(ConfigError) as exc:
            read()
        assert str(path) in exc.value.message and "\n" not in exc.value.message and exc.value.hint
        assert path.read_bytes() == BAD_JSON[case]


@pytest.mark.parametrize("case", sorted(BAD_JSON))
def test_bad_results_file_is_a_usage_error(case, tmp_path):
    from ipex_integration.bench.report.writer import load_report
    from ipex_integration.errors import UsageError

    path = tmp_path / "results.json"
    path.write_bytes(BAD_JSON[case])
    with pytest.raises(UsageError) as exc:
        load_report(path)
    assert str(path) in exc.value.message


def test_a_bad_cache_is_a_miss(tmp_path):
    from ipex_integration.runtime.probe import _read_cache

    for content in BAD_JSON.values():
        cache = tmp_path / "c.json"
        cache.write_bytes(content)
        assert _read_cache(cache, sys.executable) is None


# -- failed writes ------------------------------------------------------------------------------------------


def _mount_tmpfs(where: Path, options: str) -> None:
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode(errors='replace').strip()}")


@pytest.fixture
def tiny_disk(tmp_path):
    where = tmp_path / "tiny"
    _mount_tmpfs(where, "size=64k")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_full_disk_keeps_the_old_file_and_leaves_no_temp(tiny_disk):
    target = tiny_disk / "environments.toml"
    target.write_text("# mine\n")
    with pytest.raises(FailedError) as exc:
        state.write_text(target, "x" * (1 << 20), what="environment registry")
    assert "No space left" in exc.value.message and str(target) in exc.value.message
    assert target.read_text() == "# mine\n"
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["environments.toml"]


def test_full_disk_never_replaces_an_earlier_report(tiny_disk):
    from ipex_integration.bench.report.writer import ResultsWriter
    from tests.bench.report.reports import make_report

    earlier = tiny_disk / "results.json"
    earlier.write_text('{"an": "earlier run"}\n')
    filler = tiny_disk / "filler"
    with pytest.raises(OSError):
        filler.write_bytes(b"\0" * (1 << 20))  # fill the disk
    writer = ResultsWriter(earlier, replace=False)
    with pytest.raises(FailedError):
        writer.save(make_report())
    assert earlier.read_text() == '{"an": "earlier run"}\n'
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler", "results.json"]


def test_read_only_file_system_is_a_clean_error_via_the_cli(tmp_path, isolated_home):
    config = isolated_home / "config"
    _mount_tmpfs(config, "size=1m")
    try:
        (config / "environments.toml").write_text('# mine\n[environments.cpu]\npython = "/a"\n')
        before = (config / "environments.toml").read_bytes()
        subprocess.run(["mount", "-o", "remount,ro", str(config)], check=True)
        done = subprocess.run([sys.executable, "-c", CLI, "env", "remove", "cpu"], env=_env(isolated_home),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert "Read-only file system" in done.stderr and "environments.toml" in done.stderr
        assert (config / "environments.toml").read_bytes() == before
    finally:
        subprocess.run(["umount", "-l", str(config)], check=False)


def test_enospc_mid_write_removes_the_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    target.write_text("old")
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(FailedError, match="No space left"):
        state.write_text(target, "new")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_interrupt_mid_write_removes_the_temp_file(tmp_path, monkeypatch):
    from ipex_integration.errors import Interrupted

    def interrupted(fd):
        raise Interrupted(15)

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(Interrupted):
        state.write_text(tmp_path / "f.json", "new")
    assert list(tmp_path.iterdir()) == []


def test_temp_dir_is_removed_on_interrupt(tmp_path):
    from ipex_integration.errors import Interrupted

    with pytest.raises(Interrupted):
        with state.temp_dir(dir=tmp_path) as tmp:
            (tmp / "x").write_text("y")
            raise Interrupted(1)
    assert list(tmp_path.iterdir()) == []


# -- reports ------------------------------------------------------------------------------------------------


def test_a_new_run_is_numbered_and_force_replaces(tmp_path):
    from ipex_integration.bench.report.writer import ResultsWriter, write_reports
    from tests.bench.report.reports import make_report

    first = ResultsWriter(tmp_path / "results.json", replace=False)
    first.save(make_report())
    first.save(make_report())  # later saves of one run replace its own file
    second = ResultsWriter(tmp_path / "results.json", replace=False)
    second.save(make_report())
    assert (first.path.name, second.path.name) == ("results.json", "results-2.json")
    written = write_reports(make_report(), tmp_path, ["json", "html"], replace=False)
    assert {f: p.name for f, p in written.items()} == {"json": "results-3.json", "html": "results-3.html"}
    forced = write_reports(make_report(), tmp_path, ["json"], replace=True)
    assert forced["json"].name == "results.json"


def test_an_output_folder_that_is_a_file_is_one_clean_error(tmp_path):
    from ipex_integration.bench.report.writer import ResultsWriter
    from tests.bench.report.reports import make_report

    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(FailedError, match="Not a directory") as exc:
        ResultsWriter(tmp_path / "out" / "results.json", replace=False).save(make_report())
    assert exc.value.hint and (tmp_path / "out").read_text() == "not a folder"
    with pytest.raises(FailedError, match="File name too long"):
        state.write_text(tmp_path / ("x" * 300), "y")
