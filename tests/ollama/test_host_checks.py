"""ollama-ipex serve: a bad --host or OLLAMA_HOST is one usage line; binding beyond loopback warns."""

from __future__ import annotations

import io
import json
import os

import pytest

from ipex_integration.cli.ollama import ollama_main
from ipex_integration.errors import UsageError
from ipex_integration.ollama.serve import parse_host

from .helpers import MACHINES


@pytest.mark.parametrize("value", ["::::", "not a host", "http://bad host!:80", "[::1", "a..b:11434"])
def test_parse_host_refuses_junk(value):
    with pytest.raises(UsageError) as info:
        parse_host(value)
    assert "host" in info.value.message


def test_parse_host_keeps_good_values():
    assert parse_host("0.0.0.0:1234").host == "0.0.0.0"
    assert parse_host("[::1]:8080").port == 8080
    assert parse_host("gpu-box.lan").host == "gpu-box.lan"


@pytest.mark.parametrize(("argv", "environ"), [
    (["serve", "--dry-run", "--host", "not a host"], {}),
    (["serve", "--dry-run"], {"OLLAMA_HOST": "::::"}),
    (["serve", "--dry-run", "--host", "127.0.0.1:0"], {}),
])
def test_bad_hosts_are_usage_errors_through_the_entry_point(ollama_bin, capsys, argv, environ):
    from ipex_integration.cli.common import run_cli

    env = dict(os.environ, **environ)
    env.pop("OLLAMA_HOST", None) if not environ else None
    code = run_cli(lambda: ollama_main([*argv, "--ollama-bin", str(ollama_bin())], environ=env,
                                       hardware=MACHINES["nvidia_arc"], out=io.StringIO()), prog="ollama-ipex")
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert len([line for line in err.splitlines() if ": error: " in line]) == 1


def test_every_interface_warns_in_the_plan(ollama_bin):
    out = io.StringIO()
    env = {k: v for k, v in os.environ.items() if k != "OLLAMA_HOST"}
    code = ollama_main(["serve", "--dry-run", "--json", "--host", "0.0.0.0:11434", "--ollama-bin", str(ollama_bin())],
                       environ=env, hardware=MACHINES["nvidia_arc"], out=out)
    assert code == 0
    warnings = json.loads(out.getvalue())["server"]["warnings"]
    assert any("listening on 0.0.0.0: reachable from other machines" in w for w in warnings)
    out = io.StringIO()
    ollama_main(["serve", "--dry-run", "--json", "--ollama-bin", str(ollama_bin())], environ=env,
                hardware=MACHINES["nvidia_arc"], out=out)
    assert not any("reachable" in w for w in json.loads(out.getvalue())["server"]["warnings"])
