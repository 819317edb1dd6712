"""Bad input to every command and subcommand: junk flags, missing and out-of-range values, NaN and infinities,
empty and very long strings, unicode, paths with spaces, files that are folders, undecodable and pathological
files. Each must end in one error line with the documented exit code, no traceback, and the user's files
untouched (docs/exit-codes.md: 2 usage, 3 refused, 4 failed).

Run in-process through each console script's own `main(argv)` (harness.run_inprocess): an exception that
escapes `main` is exactly what a user would have seen as a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.faults.harness import assert_clean, run_inprocess, snapshot

USAGE, REFUSED, FAILED = 2, 3, 4
LONG = "x" * 5000
DIGITS = "9" * 5000


@pytest.fixture
def files(tmp_path: Path, isolated_home: Path) -> dict[str, str]:
    """The bad (and a few good) files the table refers to as {name}."""
    from tests.bench.report.reports import make_report
    from ipex_integration.bench.report.writer import dumps_report

    d = tmp_path / "in put ä"  # a space and a non-ASCII letter in every path
    d.mkdir()
    (d / "bad-utf8.json").write_bytes(b'{"a": "\xff\xfe\xfa"}')
    (d / "bad-utf8.toml").write_bytes(b'name = "\xff\xfe"\n')
    (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (d / "bigint.json").write_text('{"version": 1, "nodes": {"x": {"rev": ' + DIGITS + "}}}")
    (d / "bigint.toml").write_text("x = " + DIGITS + "\n")
    (d / "junk.json").write_text("this is not json {")
    (d / "list.json").write_text("[1, 2, 3]")
    (d / "empty.json").write_text("")
    (d / "a folder.json").mkdir()
    (d / "plain file").write_text("not a folder\n")
    good = json.loads(dumps_report(make_report()))
    (d / "good.json").write_text(json.dumps(good))
    wrong = json.loads(json.dumps(good))
    wrong["runs"][0]["measurements"][0]["stats"] = "fast"
    wrong["runs"][0]["measurements"][1]["samples_s"] = ["a", None]
    (d / "wrong-types.json").write_text(json.dumps(wrong))
    nan = json.loads(json.dumps(good))
    for m in nan["runs"][0]["measurements"]:
        if isinstance(m.get("stats"), dict):
            m["stats"]["median_s"] = "NaN"
    (d / "nan.json").write_text(json.dumps(nan).replace('"NaN"', "NaN"))
    incomplete = json.loads(json.dumps(good))
    incomplete["complete"] = "no"
    (d / "complete-no.json").write_text(json.dumps(incomplete))
    # A user config the commands must not rewrite when they refuse.
    config = isolated_home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "environments.toml").write_text("# my environments\n")
    out = {name.replace(".", "_").replace(" ", "_").replace("-", "_"): str(d / name)
           for name in os.listdir(d)}
    out.update(dir=str(d), home=str(isolated_home), python=sys.executable, missing=str(d / "no such ü" / "x"),
               long_path=str(d / LONG[:300] / LONG[:300]))
    return out


# (id, argv, expected exit codes). {name} is replaced from `files`.
CASES: list[tuple[str, list[str], set[int]]] = [
    # ipex: the umbrella
    ("ipex-unknown-flag", ["ipex", "--bogus"], {USAGE}),
    ("ipex-unknown-command", ["ipex", "frobnicate"], {USAGE}),
    ("devices-probe-timeout-nan", ["ipex", "devices", "--probe-timeout", "nan"], {USAGE}),
    ("devices-probe-timeout-inf", ["ipex", "devices", "--probe-timeout", "inf"], {USAGE}),
    ("devices-probe-timeout-negative", ["ipex", "devices", "--probe-timeout", "-5"], {USAGE}),
    ("devices-probe-timeout-zero", ["ipex", "devices", "--probe-timeout", "0"], {USAGE}),
    ("devices-probe-timeout-empty", ["ipex", "devices", "--probe-timeout", ""], {USAGE}),
    ("devices-probe-timeout-digits", ["ipex", "devices", "--probe-timeout", DIGITS], {USAGE}),
    ("devices-cuda-device-x", ["ipex", "devices", "--cuda-device", "x"], {USAGE}),
    ("status-both-device-indexes", ["ipex", "status", "--cuda-device", "0", "--intel-device", "0"], {USAGE}),
    ("status-negative-index", ["ipex", "status", "--cuda-device", "-1"], {USAGE}),
    ("status-huge-index", ["ipex", "status", "--intel-device", DIGITS], {USAGE}),
    ("status-probe-timeout-nan", ["ipex", "status", "--probe-timeout", "NaN"], {USAGE}),
    # ipex env
    ("env-no-subcommand-junk", ["ipex", "env", "frob"], {USAGE}),
    ("env-add-bad-backend", ["ipex", "env", "add", "rocm", "{python}"], {USAGE}),
    ("env-add-missing-python", ["ipex", "env", "add", "cpu", "{missing}"], {USAGE}),
    ("env-add-not-python", ["ipex", "env", "add", "cpu", "/bin/cat"], {USAGE, FAILED}),
    ("env-add-folder", ["ipex", "env", "add", "cpu", "{dir}"], {USAGE}),
    ("env-add-long-path", ["ipex", "env", "add", "cpu", "{long_path}"], {USAGE, FAILED}),
    ("env-add-empty", ["ipex", "env", "add", "cpu", ""], {USAGE}),
    ("env-remove-bad-backend", ["ipex", "env", "remove", "bogus"], {USAGE}),
    ("env-check-bad-backend", ["ipex", "env", "check", "bogus"], {USAGE}),
    ("env-create-bad-backend", ["ipex", "env", "create", "bogus"], {USAGE}),
    ("env-create-target-is-file", ["ipex", "env", "create", "cpu", "--target", "{plain_file}"],
     {USAGE, REFUSED}),
    ("env-create-missing-python", ["ipex", "env", "create", "cpu", "--python", "{missing}"], {USAGE}),
    # ipex comfyui
    ("comfyui-use-missing", ["ipex", "comfyui", "use", "{missing}"], {USAGE}),
    ("comfyui-use-file", ["ipex", "comfyui", "use", "{plain_file}"], {USAGE}),
    ("comfyui-use-empty", ["ipex", "comfyui", "use", ""], {USAGE}),
    ("comfyui-use-long", ["ipex", "comfyui", "use", "{long_path}"], {USAGE, FAILED}),
    ("comfyui-flags-missing", ["ipex", "comfyui", "flags", "--comfyui", "{missing}"], {USAGE}),
    ("comfyui-requirements-missing", ["ipex", "comfyui", "requirements", "--comfyui", "{missing}"], {USAGE}),
    ("comfyui-install-dir-is-file", ["ipex", "comfyui", "install", "--dir", "{plain_file}"], {USAGE, REFUSED}),
    # ipex nodes
    ("nodes-lock-not-utf8", ["ipex", "nodes", "list", "--lock", "{bad_utf8_json}"], {USAGE}),
    ("nodes-lock-deep", ["ipex", "nodes", "list", "--lock", "{deep_json}"], {USAGE}),
    ("nodes-lock-bigint", ["ipex", "nodes", "list", "--lock", "{bigint_json}"], {USAGE}),
    ("nodes-lock-junk", ["ipex", "nodes", "verify", "--lock", "{junk_json}"], {USAGE}),
    ("nodes-lock-list-toplevel", ["ipex", "nodes", "list", "--lock", "{list_json}"], {USAGE}),
    ("nodes-lock-empty", ["ipex", "nodes", "list", "--lock", "{empty_json}"], {USAGE}),
    ("nodes-lock-folder", ["ipex", "nodes", "list", "--lock", "{a_folder_json}"], {USAGE}),
    ("nodes-manifest-not-utf8", ["ipex", "nodes", "lock", "--manifest", "{bad_utf8_toml}"], {USAGE}),
    ("nodes-manifest-bigint", ["ipex", "nodes", "lock", "--manifest", "{bigint_toml}"], {USAGE}),
    ("nodes-install-unknown", ["ipex", "nodes", "install", "no-such-node", "--comfyui", "{missing}"], {USAGE}),
    ("nodes-remove-unknown", ["ipex", "nodes", "remove", "no-such-node", "--comfyui", "{missing}"], {USAGE}),
    ("nodes-check-missing-path", ["ipex", "nodes", "check", "--path", "{missing}"], {USAGE}),
    # ipex service
    ("service-bad-program", ["ipex", "service", "install", "bogus"], {USAGE}),
    ("service-listen-junk", ["ipex", "service", "install", "ollama", "--listen", "not an address!", "--dry-run",
                             "--ollama-bin", "/bin/true"], {USAGE}),
    ("service-port-zero", ["ipex", "service", "install", "ollama", "--port", "0", "--dry-run",
                           "--ollama-bin", "/bin/true"], {USAGE}),
    ("service-port-high", ["ipex", "service", "install", "ollama", "--port", "70000", "--dry-run",
                           "--ollama-bin", "/bin/true"], {USAGE}),
    ("service-env-no-equals", ["ipex", "service", "install", "ollama", "--env", "NOEQUALS", "--dry-run",
                               "--ollama-bin", "/bin/true"], {USAGE}),
    ("service-run-as-unknown", ["ipex", "service", "install", "ollama", "--run-as", "no-such-user-ü",
                                "--dry-run", "--ollama-bin", "/bin/true"], {USAGE}),
    ("service-unit-dir-is-file", ["ipex", "service", "install", "ollama", "--unit-dir", "{plain_file}",
                                  "--ollama-bin", "/bin/true", "--no-reload"], {USAGE, FAILED}),
    # ipex up
    ("up-port-zero", ["ipex", "up", "--dry-run", "--port", "0"], {USAGE}),
    ("up-timeout-negative", ["ipex", "up", "--dry-run", "--timeout", "-1"], {USAGE}),
    ("up-timeout-nan", ["ipex", "up", "--dry-run", "--timeout", "nan"], {USAGE}),
    ("up-host-junk", ["ipex", "up", "--dry-run", "--host", "not a host"], {USAGE}),
    ("up-listen-junk", ["ipex", "up", "--dry-run", "--listen", "bad host!"], {USAGE}),
    ("up-comfyui-device-empty", ["ipex", "up", "--dry-run", "--comfyui-device", ""], {USAGE}),
    ("up-ollama-device-junk", ["ipex", "up", "--dry-run", "--ollama-device", "cuda:x"], {USAGE}),
    ("up-results-not-utf8", ["ipex", "up", "--dry-run", "--results", "{bad_utf8_json}"], {USAGE}),
    ("up-results-deep", ["ipex", "up", "--dry-run", "--results", "{deep_json}"], {USAGE}),
    # ipex-benchmark
    ("bench-unknown-flag", ["ipex-benchmark", "--bogus"], {USAGE}),
    ("bench-budget-inf", ["ipex-benchmark", "--budget", "inf"], {USAGE}),
    ("bench-budget-nan", ["ipex-benchmark", "--budget", "nan"], {USAGE}),
    ("bench-budget-negative", ["ipex-benchmark", "--budget", "-1"], {USAGE}),
    ("bench-warmup-inf", ["ipex-benchmark", "--warmup", "inf"], {USAGE}),
    ("bench-sd-steps-zero", ["ipex-benchmark", "--sd-steps", "0"], {USAGE}),
    ("bench-sd-resolution-odd", ["ipex-benchmark", "--sd-resolution", "7"], {USAGE}),
    ("bench-dtype-junk", ["ipex-benchmark", "--dtype", "fp7"], {USAGE}),
    ("bench-suite-junk", ["ipex-benchmark", "--suite", "huge"], {USAGE}),
    ("bench-device-junk", ["ipex-benchmark", "--device", "tpu"], {USAGE}),
    ("bench-device-negative", ["ipex-benchmark", "--device", "cuda:-1"], {USAGE}),
    ("bench-output-empty", ["ipex-benchmark", "--output", ""], {USAGE}),
    ("bench-output-is-file", ["ipex-benchmark", "--output", "{plain_file}", "--only", "add"], {USAGE, FAILED}),
    ("bench-format-junk", ["ipex-benchmark", "--format", "pdf"], {USAGE}),
    ("bench-size-junk", ["ipex-benchmark", "--size", "big"], {USAGE}),
    ("compare-missing", ["ipex-benchmark", "compare", "{missing}", "{good_json}"], {FAILED}),
    ("compare-not-utf8", ["ipex-benchmark", "compare", "{bad_utf8_json}", "{good_json}"], {FAILED}),
    ("compare-deep", ["ipex-benchmark", "compare", "{deep_json}", "{good_json}"], {FAILED}),
    ("compare-junk", ["ipex-benchmark", "compare", "{good_json}", "{junk_json}"], {FAILED}),
    ("compare-wrong-types", ["ipex-benchmark", "compare", "{good_json}", "{wrong_types_json}"], {FAILED}),
    ("compare-complete-no", ["ipex-benchmark", "compare", "{good_json}", "{complete_no_json}"], {FAILED}),
    ("compare-folder", ["ipex-benchmark", "compare", "{a_folder_json}", "{good_json}"], {FAILED}),
    ("compare-fail-above-nan", ["ipex-benchmark", "compare", "{good_json}", "{good_json}", "--fail-above", "nan"],
     {USAGE}),
    ("llm-trials-zero", ["ipex-benchmark", "llm", "--model", "m", "--trials", "0"], {USAGE}),
    ("llm-timeout-nan", ["ipex-benchmark", "llm", "--model", "m", "--timeout", "nan"], {USAGE}),
    ("llm-max-tokens-negative", ["ipex-benchmark", "llm", "--model", "m", "--max-tokens", "-1"], {USAGE}),
    ("llm-url-junk", ["ipex-benchmark", "llm", "--model", "m", "--url", "not a url"], {USAGE}),
    ("llm-output-empty", ["ipex-benchmark", "llm", "--model", "m", "--output", ""], {USAGE}),
    # the ComfyUI launchers (ComfyUI's own flags are checked against a checkout in test_comfyui_flags below)
    ("comfyui-ipex-cuda-device-x", ["comfyui-ipex", "--cuda-device", "x", "--dry-run"], {USAGE}),
    ("comfyui-ipex-intel-device-negative", ["comfyui-ipex", "--intel-device", "-2", "--dry-run"], {USAGE}),
    ("comfyui-ipex-missing-checkout", ["comfyui-ipex", "--comfyui", "{missing}", "--dry-run"], {USAGE}),
    ("comfyui-ipex-checkout-is-file", ["comfyui-ipex", "--comfyui", "{plain_file}", "--dry-run"], {USAGE}),
    ("comfyui-xpu-no-intel", ["comfyui-xpu", "--dry-run"], {USAGE}),
    # ollama-ipex
    ("ollama-serve-host-junk", ["ollama-ipex", "serve", "--host", "not a host", "--dry-run"], {USAGE}),
    ("ollama-serve-timeout-inf", ["ollama-ipex", "serve", "--timeout", "inf", "--dry-run"], {USAGE}),
    ("ollama-serve-missing-bin", ["ollama-ipex", "serve", "--ollama-bin", "{missing}", "--dry-run"], {USAGE}),
    ("ollama-serve-bin-is-folder", ["ollama-ipex", "serve", "--ollama-bin", "{dir}", "--dry-run"], {USAGE}),
]

ENV_CASES: list[tuple[str, list[str], dict[str, str], set[int]]] = [
    ("ipex-device-long", ["ipex", "status"], {"IPEX_DEVICE": LONG}, {USAGE}),
    ("ipex-device-junk", ["comfyui-ipex", "--dry-run"], {"IPEX_DEVICE": "tpu"}, {USAGE}),
    ("ipex-device-control-chars", ["ipex", "devices"], {"IPEX_DEVICE": "cu\x1b[31mda\x07"}, {USAGE}),
    ("ollama-host-colons", ["ollama-ipex", "serve", "--dry-run"], {"OLLAMA_HOST": "::::"}, {USAGE}),
    ("ollama-host-junk-llm", ["ipex-benchmark", "llm", "--model", "m"], {"OLLAMA_HOST": "::::"}, {USAGE}),
    ("comfyui-path-missing", ["comfyui-ipex", "--dry-run"], {"COMFYUI_PATH": "/no/such/ComfyUI ü"}, {USAGE}),
    ("home-is-a-file", ["ipex", "env", "add", "cpu", "{python}"], {"IPEX_INTEGRATION_HOME": "{plain_file}"},
     {USAGE, FAILED}),
]


def _fill(value: str, files: dict[str, str]) -> str:
    return value.format(**files) if "{" in value and value != DIGITS else value


@pytest.mark.parametrize("argv, codes", [pytest.param(a, c, id=i) for i, a, c in CASES])
def test_bad_input(argv, codes, files, monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    monkeypatch.delenv("COMFYUI_PATH", raising=False)
    argv = [_fill(a, files) for a in argv]
    before = snapshot(Path(files["dir"]), Path(files["home"]))
    outcome = run_inprocess(argv)
    assert_clean(outcome, codes=codes, prog=None, before=before,
                 after=snapshot(Path(files["dir"]), Path(files["home"])),
                 temp_roots=[Path(files["dir"]), Path(files["home"])])


@pytest.mark.parametrize("argv, env, codes", [pytest.param(a, e, c, id=i) for i, a, e, c in ENV_CASES])
def test_bad_environment(argv, env, codes, files, monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    monkeypatch.delenv("COMFYUI_PATH", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, _fill(value, files))
    argv = [_fill(a, files) for a in argv]
    before = snapshot(Path(files["dir"]))
    outcome = run_inprocess(argv)
    assert_clean(outcome, codes=codes, before=before, after=snapshot(Path(files["dir"])))


COMFYUI_FLAG_CASES = [
    ("mutually-exclusive", ["--lowvram", "--novram"]),
    ("not-a-choice", ["--preview-method", "bogus"]),
    ("not-an-int", ["--preview-size", "x"]),
    ("unknown-flag", ["--no-such-comfyui-flag"]),
    ("missing-value", ["--port"]),
    ("port-not-int", ["--port", "eighty"]),
]


@pytest.mark.parametrize("version", ["0.3.47", "0.3.64"])
@pytest.mark.parametrize("flags", [pytest.param(f, id=i) for i, f in COMFYUI_FLAG_CASES])
def test_comfyui_flags_refused_before_start(flags, version, tmp_path, monkeypatch):
    """Every refusal of ComfyUI's own arguments comes from our pre-check (exit 2, version named), before
    ComfyUI would spend seconds importing torch and then exit 2 itself."""
    from tests.fakes.comfyui import build_fake_comfyui

    checkout = build_fake_comfyui(tmp_path / "ComfyUI", version)
    before = snapshot(checkout)
    outcome = run_inprocess(["comfyui-ipex", "--cpu", "--comfyui", str(checkout), "--dry-run", *flags])
    assert_clean(outcome, codes={USAGE}, before=before, after=snapshot(checkout))
    assert version in outcome.stderr, outcome.describe()
