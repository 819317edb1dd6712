"""`ipex status` end to end in-process, on fake hardware (the command's seams: root, runner, nvml, environments)."""

from __future__ import annotations

import io
import json
import sys

import pytest

from ipex_integration.cli import status as status_cli
from ipex_integration.cli.main import build_parser
from ipex_integration.errors import UsageError
from ipex_integration.runtime.model import Backend
from tests.fakes.sysfs import FakeNvidiaSmi, fake_nvml_for, make_layout
from tests.status.helpers import ALL_INTEL_LIBS, FakeLdconfig, cpu_info, cuda_info, env, interpreter, xpu_info


def run_status(tmp_path, layout, argv, environments, *, libs=ALL_INTEL_LIBS):
    root = make_layout(tmp_path / "root", layout)
    args = build_parser().parse_args(["status", *argv])
    out = io.StringIO()
    runner = FakeNvidiaSmi(state="missing", fallback=FakeLdconfig(libs))
    code = status_cli.run(args, environ={}, root=root, runner=runner, nvml=fake_nvml_for(layout),
                          environments=environments, out=out)
    return code, out.getvalue()


def test_xpu_machine_usable_json(tmp_path):
    xpu = interpreter(tmp_path, "xpu")
    code, text = run_status(tmp_path, "igpu_arc", ["--json"], [(env("xpu", xpu), xpu_info(xpu))])
    data = json.loads(text)
    assert code == 0 and data["usable"] is True
    assert data["plan"]["backend"] == "xpu" and data["plan"]["device_name"] == "Intel Arc B580 Graphics"
    levels = {(c["section"], c["name"]): c["level"] for c in data["checks"]}
    assert levels[("Render nodes", "Intel Arc B580 Graphics (0000:03:00.0)")] == "ok"
    assert levels[("Intel GPU runtime", "libze_loader.so.1")] == "ok"
    assert [g["name"] for g in data["hardware"]["gpus"]] == ["Intel UHD Graphics 770 (Raptor Lake-S)",
                                                              "Intel Arc B580 Graphics"]


def test_forced_cuda_without_nvidia_exits_1_with_the_reason(tmp_path):
    xpu = interpreter(tmp_path, "xpu")
    code, text = run_status(tmp_path, "igpu_arc", ["--cuda"], [(env("xpu", xpu), xpu_info(xpu))])
    assert code == 1
    assert "no NVIDIA GPU" in text and text.rstrip().splitlines()[-1].startswith("not usable")


def test_missing_interpreter_shows_as_missing_not_a_crash(tmp_path):
    gone = str(tmp_path / "gone/bin/python")
    code, text = run_status(tmp_path, "nvidia_arc", [], [(env("cuda", gone), None)])
    assert code == 1  # no environment with torch: nothing is usable
    assert f"interpreter {gone} no longer exists" in text and "fix: ipex env remove cuda" in text


def test_cuda_machine_with_cuda_env(tmp_path):
    cuda, cpu = interpreter(tmp_path, "cuda"), interpreter(tmp_path, "cpu")
    pairs = [(env("cuda", cuda), cuda_info(cuda)), (env("cpu", cpu), cpu_info(cpu)),
             (env("current", sys.executable), cpu_info(sys.executable))]
    code, text = run_status(tmp_path, "nvidia_arc", [], pairs, libs={})
    assert code == 0
    assert "usable: work runs on CUDA device 0 (NVIDIA GeForce RTX 4090) in environment cuda" in text
    # The Arc card is present, so missing Level Zero is reported, but it does not block the CUDA path.
    assert "missing  libze_loader.so.1" in text


def test_bad_flags_are_usage_errors(tmp_path):
    args = build_parser().parse_args(["status", "--cpu", "--xpu"])
    with pytest.raises(UsageError, match="conflicting flags"):
        status_cli.run(args, environ={}, root=tmp_path, environments=[], out=io.StringIO())


def test_ipex_device_variable_selects(tmp_path):
    cpu = interpreter(tmp_path, "cpu")
    root = make_layout(tmp_path / "root", "no_gpu")
    out = io.StringIO()
    code = status_cli.run(build_parser().parse_args(["status", "--json"]), environ={"IPEX_DEVICE": "xpu"}, root=root,
                          runner=FakeNvidiaSmi(state="missing"), nvml=None,
                          environments=[(env("cpu", cpu), cpu_info(cpu))], out=out)
    data = json.loads(out.getvalue())
    assert code == 1 and data["plan"] is None and "IPEX_DEVICE=xpu" in data["plan_error"]
    assert Backend.XPU.value in data["plan_error"].lower()


def test_status_reports_llama_server_its_build_and_a_running_server(tmp_path):
    """The llama.cpp section is wired into `ipex status`: the binary from $LLAMA_SERVER, its build, and the
    server at $LLAMA_SERVER_URL, first absent, then a running fake llama-server; none of it blocks the device."""
    from ipex_integration.llama.launch import prepare_llama_launch
    from ipex_integration.llama.serve import LlamaServer
    from ipex_integration.plan.model import DeviceRequest
    from ipex_integration.proc import run_command
    from tests.llama.helpers import install, model_file
    from tests.ollama.helpers import MACHINES, free_port

    binary = install(tmp_path / "llama", ("libggml-sycl.so",))
    port = free_port()
    environ = {"LLAMA_SERVER": str(binary), "LLAMA_SERVER_URL": f"http://127.0.0.1:{port}"}
    root = make_layout(tmp_path / "root", "igpu_arc")
    fake = FakeNvidiaSmi(state="missing", fallback=FakeLdconfig(ALL_INTEL_LIBS))

    def runner(argv, *, timeout, env=None, input=None):  # the fake llama-server really runs
        real = argv[0] == str(binary) or (argv[0] == "ldd" and argv[1:] == [str(binary.resolve())])
        return (run_command if real else fake)(argv, timeout=timeout, env=env, input=input)

    xpu = interpreter(tmp_path, "xpu")

    def status() -> tuple[int, dict]:
        out = io.StringIO()
        code = status_cli.run(build_parser().parse_args(["status", "--json"]), environ=environ, root=root,
                              runner=runner, nvml=fake_nvml_for("igpu_arc"),
                              environments=[(env("xpu", xpu), xpu_info(xpu))], out=out)
        data = json.loads(out.getvalue())
        return code, {c["name"]: c for c in data["checks"] if c["section"] == "llama.cpp"}

    code, rows = status()
    assert code == 0 and rows["llama-server"]["level"] == "ok" and "$LLAMA_SERVER" in rows["llama-server"]["detail"]
    assert rows["build"]["level"] == "ok" and "llama.cpp b6123 (sycl)" in rows["build"]["detail"]
    assert "Intel GPU" not in rows  # a SYCL build drives the selected Arc
    assert rows["server"]["level"] == "missing" and "ollama-ipex serve --engine llama-server" in rows["server"]["fix"]
    model = model_file(tmp_path / "tiny.gguf")
    launch = prepare_llama_launch(DeviceRequest(backend=Backend.CPU), model=model, environ={}, binary=str(binary),
                                  port=port, hardware=MACHINES["none"], log_path=str(tmp_path / "server.log"))
    with LlamaServer(launch.spec).start() as server:
        server.wait_ready(20)
        code, rows = status()
    assert code == 0 and rows["server"]["level"] == "ok" and model in rows["server"]["detail"]
