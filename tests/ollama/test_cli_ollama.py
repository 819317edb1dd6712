"""`ollama-ipex`: dry runs for each device, client commands with the same environment, usage errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ipex_integration.cli.ollama import main, ollama_main, split_ollama_flags
from ipex_integration.errors import UsageError

from .helpers import MACHINES

REPO = Path(__file__).resolve().parents[2]


def dry_run(argv, machine="nvidia_arc", environ=None):
    out = io.StringIO()
    code = ollama_main(argv, environ=environ if environ is not None else dict(os.environ),
                       hardware=MACHINES[machine], out=out)
    return code, out.getvalue()


@pytest.mark.parametrize(("flags", "backend", "path", "variable"), [
    ([], "cuda", "cuda", ("CUDA_VISIBLE_DEVICES", "0")),
    (["--force-intel-xpu"], "xpu", "vulkan", ("OLLAMA_VULKAN", "1")),
    (["--intel-device", "0"], "xpu", "vulkan", ("CUDA_VISIBLE_DEVICES", "-1")),
    (["--cpu"], "cpu", "cpu", ("GGML_VK_VISIBLE_DEVICES", "-1")),
])
def test_dry_run_json(ollama_bin, flags, backend, path, variable):
    code, text = dry_run(["serve", "--dry-run", "--json", "--ollama-bin", str(ollama_bin()), *flags])
    assert code == 0
    data = json.loads(text)
    assert data["plan"]["backend"] == backend and data["server"]["path"] == path
    assert data["server"]["env"][variable[0]] == variable[1]
    assert data["ollama"]["backends"] == ["cuda", "vulkan"]
    assert data["serve"]["argv"] == [str(ollama_bin()), "serve"]
    assert data["plan"]["request"]["needs_torch"] is False


def test_dry_run_text(ollama_bin):
    code, text = dry_run(["serve", "--dry-run", "--ollama-bin", str(ollama_bin()), "--host", "127.0.0.1:11999"])
    assert code == 0
    assert "device:      CUDA device 0 (NVIDIA GeForce RTX 4090) via cuda" in text
    assert "set:         CUDA_VISIBLE_DEVICES=0" in text
    assert "url:         http://127.0.0.1:11999" in text
    assert f"command:     {ollama_bin()} serve" in text


def test_client_commands_get_the_same_environment_and_our_flags_removed(ollama_bin):
    calls = []
    code = ollama_main(["run", "llama3.2", "--cpu", "--verbose", "--host", "127.0.0.1:5555",
                        "--ollama-bin", str(ollama_bin())],
                       environ=dict(os.environ), hardware=MACHINES["nvidia_arc"],
                       exec_fn=lambda path, argv, env: calls.append((path, argv, env)))
    assert code == 0
    (path, argv, env), = calls
    assert argv == [str(ollama_bin()), "run", "llama3.2", "--verbose"]
    assert env["OLLAMA_HOST"] == "127.0.0.1:5555" and env["CUDA_VISIBLE_DEVICES"] == "-1"


def test_client_command_for_real(ollama_bin, fake_server):
    url = fake_server(FAKE_OLLAMA_MODELS="llama3.2:latest,phi4:latest")
    done = subprocess.run([sys.executable, "-m", "ipex_integration.cli.ollama", "list", "--cpu",
                           "--ollama-bin", str(ollama_bin()), "--host", url.removeprefix("http://")],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()] == ["NAME", "llama3.2:latest", "phi4:latest"]


def test_usage(capsys):
    assert ollama_main(["--help"], hardware=MACHINES["none"]) == 0
    assert "usage: ollama-ipex serve" in capsys.readouterr().out
    assert ollama_main([], hardware=MACHINES["none"]) == 2


@pytest.mark.parametrize(("argv", "message"), [
    (["serve", "--json"], "--json only goes with --dry-run"),
    (["serve", "--timeout", "soon"], "--timeout: not a number of seconds"),
    (["serve", "--timeout", "0"], "--timeout: must be > 0"),
    (["serve", "--timeout", "inf"], "--timeout: expected a finite number"),
    (["serve", "--host", ""], "must not be empty"),
    (["serve", "--host"], "--host needs a value"),
    (["serve", "--host", "127.0.0.1:99999", "--dry-run"], "out of range"),
    (["serve", "--cpu", "--cuda"], "conflicting flags"),
])
def test_bad_input_is_one_line_and_exit_2(ollama_bin, capsys, argv, message):
    code = main(["--ollama-bin", str(ollama_bin()), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"ollama-ipex: error: ") and message in err.splitlines()[0]
    assert "Traceback" not in err


def test_split_ollama_flags():
    flags, rest = split_ollama_flags(["serve", "--host=0.0.0.0:1", "--ollama-bin", "/x", "--", "--host", "y"])
    assert (flags.host, flags.ollama_bin, rest) == ("0.0.0.0:1", "/x", ["serve", "--", "--host", "y"])
    with pytest.raises(UsageError):
        split_ollama_flags(["--timeout", "-1"])
