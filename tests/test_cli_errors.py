"""The one error boundary and the checks at parse time: every bad input or fault is exit code + exactly one
`error:` line (plus at most one `hint:`), never a traceback. The entry points run in-process via main(argv)."""

from __future__ import annotations

import errno
import json
import os
import signal
import tomllib
from pathlib import Path

import pytest

from ipex_integration import net
from ipex_integration.cli import benchmark, common, main as ipex_main, up
from ipex_integration.errors import (
    EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, Interrupted, RefusedError, UsageError,
)


def one_error(err: str) -> str:
    """The error line of `err`, after checking the shape every failure must have."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    errors = [line for line in lines if ": error: " in line]
    hints = [line for line in lines if ": hint: " in line]
    assert len(errors) == 1 and len(hints) <= 1, err
    return errors[0]


# -- junk on the command line: exit 2 at parse time, before anything is probed or started ------------------

JUNK = [
    (ipex_main.main, ["status", "--probe-timeout", "nan"], "--probe-timeout: expected a finite number"),
    (ipex_main.main, ["status", "--probe-timeout", "-5"], "--probe-timeout: must be > 0 seconds"),
    (ipex_main.main, ["devices", "--probe-timeout", "inf"], "--probe-timeout: expected a finite number"),
    (ipex_main.main, ["env", "check", "--timeout", "-1"], "--timeout: must be > 0 seconds"),
    (ipex_main.main, ["env", "list", "--timeout", "1e9"], "must be at most"),
    (ipex_main.main, ["status", "--cuda-device", "0", "--intel-device", "0"], "conflicting flags"),
    (ipex_main.main, ["status", "--cuda-device", "x"], "--cuda-device"),
    (ipex_main.main, ["no-such-command"], "invalid choice"),
    (ipex_main.main, ["status", "--no-such-flag"], "unrecognized arguments"),
    (ipex_main.main, ["up", "--port", "0"], "--port: port 0 is out of range (1-65535)"),
    (ipex_main.main, ["up", "--port", "70000"], "out of range"),
    (ipex_main.main, ["up", "--timeout", "-1"], "--timeout: must be > 0 seconds"),
    (ipex_main.main, ["up", "--comfyui-device", ""], "--comfyui-device: must not be empty"),
    (ipex_main.main, ["up", "--listen", "not an address!"], "not an IP address or host name"),
    (ipex_main.main, ["up", "--host", ""], "--host: must not be empty"),
    (ipex_main.main, ["service", "install", "ollama", "--listen", "not an address!", "--dry-run"],
     "--listen: not an IP address or host name"),
    (ipex_main.main, ["service", "install", "comfyui", "--port", "0", "--dry-run"], "out of range"),
    (up.main, ["--port", "-1"], "out of range"),
    (up.main, ["--timeout", "nan"], "expected a finite number"),
    (benchmark.main, ["--budget", "inf"], "--budget: expected a finite number"),
    (benchmark.main, ["--warmup", "inf"], "--warmup: expected a finite number"),
    (benchmark.main, ["--warmup", "-1"], "--warmup: must be >= 0 seconds"),
    (benchmark.main, ["--budget", "nan"], "expected a finite number"),
    (benchmark.main, ["--sd-steps", "0"], "--sd-steps: must be from 1"),
    (benchmark.main, ["--output", ""], "--output: must not be empty"),
    (benchmark.main, ["run", "--no-such-flag"], "unrecognized arguments"),
    (benchmark.main, ["compare", "", "x.json"], "must not be empty"),
    (benchmark.main, ["llm", "--model", "m", "--timeout", "-1"], "--timeout: must be > 0 seconds"),
    (benchmark.main, ["llm", "--model", "m", "--trials", "0"], "--trials: must be from 1"),
    (benchmark.main, ["llm", "--model", "m", "--max-tokens", "lots"], "expected a whole number"),
]


@pytest.mark.parametrize(("entry", "argv", "message"), JUNK, ids=[" ".join(a) or "empty" for _, a, _ in JUNK])
def test_junk_is_a_usage_error(capsys, tmp_path, monkeypatch, entry, argv, message):
    monkeypatch.chdir(tmp_path)  # `--output ''` must not write into the current directory
    code = entry(argv)
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE, err
    assert message in one_error(err)
    assert list(tmp_path.iterdir()) == []


# -- the boundary: what escapes a command body ----------------------------------------------------------


def _raise(exc: BaseException):
    def body() -> int:
        raise exc
    return body


def _real_os_error(tmp_path: Path, kind: str) -> OSError:
    """The real OSError of each fault that a user meets (root ignores permissions: those are synthesized)."""
    afile = tmp_path / "file"
    afile.write_text("x")
    actions = {
        "ENOTDIR": lambda: (afile / "results.json").write_text("{}"),
        "EISDIR": lambda: tmp_path.joinpath().open("w"),
        "ENAMETOOLONG": lambda: (tmp_path / ("n" * 300)).write_text("x"),
        "EEXIST": lambda: tmp_path.mkdir(),
        "ENOENT": lambda: (tmp_path / "missing" / "x").read_text(),
    }
    try:
        actions[kind]()
    except OSError as exc:
        return exc
    raise AssertionError(f"{kind} did not happen")


@pytest.mark.parametrize("kind", ["ENOTDIR", "EISDIR", "ENAMETOOLONG", "EEXIST", "ENOENT"])
def test_real_os_errors_are_one_line_naming_the_file(capsys, tmp_path, kind):
    exc = _real_os_error(tmp_path, kind)
    assert common.run_cli(_raise(exc), prog="ipex") == EXIT_FAILED
    line = one_error(capsys.readouterr().err)
    assert line.startswith("ipex: error: ") and str(tmp_path) in line


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EPERM])
def test_write_faults_name_the_file_and_the_fix(capsys, code):
    exc = OSError(code, os.strerror(code), "/data/results/results.json")
    assert common.run_cli(_raise(exc)) == EXIT_FAILED
    err = capsys.readouterr().err
    line = one_error(err)
    assert "/data/results/results.json" in line and os.strerror(code) in line
    assert f"ipex: hint: {common.OS_HINTS[code]}" in err


def test_undecodable_and_unparseable_files(capsys, tmp_path):
    bad = tmp_path / "environments.toml"
    bad.write_bytes(b"\xff\xfe[cuda]\n")
    cases = [
        (lambda: bad.read_text(encoding="utf-8"), "UTF-8"),
        (lambda: json.loads("{"), "invalid JSON: line 1"),
        (lambda: tomllib.loads("x = "), "invalid TOML"),
        (lambda: json.loads("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    ]
    for action, message in cases:
        assert common.run_cli(lambda: action() or 0) == EXIT_FAILED
        assert message in one_error(capsys.readouterr().err)


def test_library_errors_keep_their_exit_codes(capsys):
    assert common.run_cli(_raise(UsageError("bad", hint="fix"))) == EXIT_USAGE
    assert common.run_cli(_raise(RefusedError("would overwrite x", hint="--force"))) == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "ipex: error: would overwrite x\nipex: hint: --force\n" in err


def test_error_text_is_clean_and_short(capsys):
    message = "git says \x00 \x1b[31mred\x1b[0m " + "v" * 5000
    common.run_cli(_raise(UsageError(message)))
    line = one_error(capsys.readouterr().err)
    assert "\x00" not in line and "\x1b" not in line and len(line) < 350
    script = "\n".join(f"line {i} of the probe script" for i in range(23))
    common.run_cli(_raise(UsageError(f"probe failed: {script}")))
    line = one_error(capsys.readouterr().err)
    assert "line 3 of" in line and "line 4 of" not in line and line.endswith("...")


def test_debug_shows_the_traceback(capsys):
    common.run_cli(_raise(UsageError("bad")), debug=True)
    err = capsys.readouterr().err
    assert "Traceback" in err and "ipex: error: bad" in err


def test_a_bug_still_shows_its_traceback():
    with pytest.raises(ZeroDivisionError):
        common.run_cli(lambda: 1 // 0)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_unwind_the_body(capsys, signum, code):
    before = signal.getsignal(signum)
    cleaned = []

    def body() -> int:
        try:
            os.kill(os.getpid(), signum)
            return 0  # not reached: the handler raises at the next bytecode
        finally:
            cleaned.append(True)

    assert common.run_cli(body) == code
    assert cleaned == [True] and signal.getsignal(signum) is before
    assert capsys.readouterr().err == f"ipex: interrupted by {signal.Signals(signum).name}\n"


def test_ctrl_c_is_130(capsys):
    assert common.run_cli(_raise(KeyboardInterrupt())) == 130
    assert Interrupted(signal.SIGTERM).exit_code == 143


def test_broken_pipe_is_quiet(capsys):
    assert common.run_cli(_raise(BrokenPipeError())) == EXIT_OK
    assert capsys.readouterr().err == ""


# -- addresses ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True), ("127.0.0.1,::1", True),
    ("0.0.0.0", False), ("::", False), ("", False), ("192.168.1.5", False), ("gpu-box.lan", False),
    ("127.0.0.1,0.0.0.0", False),
])
def test_is_loopback(host, loopback):
    assert net.is_loopback(host) is loopback
    assert (net.exposure_warning(host) is None) is loopback


@pytest.mark.parametrize("host", ["not a host", "::::", "a..b", "-x", "x" * 254, "", "a_b"])
def test_bad_hosts_are_refused(host):
    with pytest.raises(UsageError):
        net.check_host(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "gpu-box.lan", "0.0.0.0"])
def test_good_hosts_pass(host):
    assert net.check_host(host) == host.strip("[]")


def test_warn_if_exposed(capsys):
    common.warn_if_exposed("comfyui-ipex", "127.0.0.1")
    assert capsys.readouterr().err == ""
    common.warn_if_exposed("comfyui-ipex", "0.0.0.0,::")
    assert capsys.readouterr().err.startswith("comfyui-ipex: warning: listening on 0.0.0.0,::: reachable")
    with pytest.raises(UsageError):
        common.warn_if_exposed("comfyui-ipex", "not an address!")


# -- real processes and real children --------------------------------------------------------------------


def test_a_probe_that_echoes_its_script_gives_a_short_error(capsys):
    # /bin/cat as "the interpreter" echoes the 23-line probe script back on stdout.
    code = ipex_main.main(["env", "add", "cpu", "/bin/cat"])
    line = one_error(capsys.readouterr().err)
    assert code == EXIT_USAGE and "/bin/cat is not a usable Python interpreter" in line
    assert len(line) <= 320 and "\x00" not in line


def test_long_values_are_not_echoed_whole(capsys, monkeypatch):
    monkeypatch.setenv("IPEX_DEVICE", "x" * 5000)
    code = ipex_main.main(["status", "--probe-timeout", "5"])
    line = one_error(capsys.readouterr().err)
    assert code == EXIT_USAGE and len(line) <= 320


@pytest.mark.parametrize(("module", "argv"), [
    ("ipex_integration.cli.benchmark", ["--budget", "nan"]),
    ("ipex_integration.cli.main", ["up", "--port", "0"]),
    ("ipex_integration.cli.ollama", ["serve", "--timeout", "inf"]),
])
def test_console_entry_points_exit_2_with_one_line(module, argv):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_USAGE and done.stdout == ""
    one_error(done.stderr)
