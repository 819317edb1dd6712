"""resolve_plan: the real runtime probe against fake interpreters, probing only what the request needs."""

from __future__ import annotations

import pytest

from ipex_integration.errors import SelectionError
from ipex_integration.plan.model import DeviceRequest
from ipex_integration.plan.resolve import resolve_plan
from ipex_integration.proc import run_command
from ipex_integration.runtime.model import Backend, Environment
from tests.fakes.interpreters import make_fake_python

from .machines import MACHINES


class RecordingRunner:
    """The real runner, recording which interpreters were started (each start is a probe)."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def __call__(self, argv, *, timeout, env=None, input=None):
        self.started.append(str(argv[0]))
        return run_command(argv, timeout=timeout, env=env, input=input)


@pytest.fixture
def environ(isolated_home):
    """Only our home variable: the probe cache stays in the test's own IPEX_INTEGRATION_HOME."""
    return {"IPEX_INTEGRATION_HOME": str(isolated_home)}


@pytest.fixture(scope="module")
def pythons(tmp_path_factory):
    root = tmp_path_factory.mktemp("pythons")
    made = {kind: str(make_fake_python(root, kind, name=kind)) for kind in ("cuda", "xpu", "cpu", "notorch")}
    made["xpu_nodev"] = str(make_fake_python(root, "xpu", name="xpu_nodev", xpu_devices=[]))
    return made


def envs(pythons, *, cuda=True, xpu=True, cpu=True, current="notorch", cpu_python=None, xpu_kind="xpu"):
    pairs = []
    if cuda:
        pairs.append((Environment("cuda", pythons["cuda"], Backend.CUDA), None))
    if xpu:
        pairs.append((Environment("xpu", pythons[xpu_kind], Backend.XPU), None))
    if cpu:
        pairs.append((Environment("cpu", cpu_python or pythons["cpu"], Backend.CPU), None))
    pairs.append((Environment("current", pythons[current], None, registered=False), None))
    return pairs


def test_cpu_request_probes_only_the_cpu_environment(pythons, environ):
    runner = RecordingRunner()
    plan = resolve_plan(DeviceRequest(backend=Backend.CPU, source="--cpu"), environ=environ, runner=runner,
                        hardware=MACHINES["nvidia_arc"], environments=envs(pythons))
    assert plan.backend is Backend.CPU and plan.python == pythons["cpu"]
    assert runner.started == [pythons["cpu"]]


def test_cuda_request_probes_only_the_cuda_environment(pythons, environ):
    runner = RecordingRunner()
    plan = resolve_plan(DeviceRequest(backend=Backend.CUDA, source="--cuda"), environ=environ, runner=runner,
                        hardware=MACHINES["nvidia_arc"], environments=envs(pythons))
    assert (plan.backend, plan.device_index, plan.environment) == (Backend.CUDA, 0, "cuda")
    assert runner.started == [pythons["cuda"]]


def test_auto_probes_all_backends_and_picks_cuda(pythons, environ):
    runner = RecordingRunner()
    plan = resolve_plan(DeviceRequest(), environ=environ, runner=runner, hardware=MACHINES["nvidia_arc"],
                        environments=envs(pythons))
    assert plan.backend is Backend.CUDA
    assert set(runner.started) >= {pythons["cuda"], pythons["xpu"], pythons["cpu"]}


def test_xpu_without_registered_env_asks_the_current_interpreter(pythons, environ):
    runner = RecordingRunner()
    plan = resolve_plan(DeviceRequest(backend=Backend.XPU, source="--xpu"), environ=environ, runner=runner,
                        hardware=MACHINES["igpu_arc"], environments=envs(pythons, xpu=False, current="xpu"))
    assert (plan.backend, plan.device_index, plan.environment) == (Backend.XPU, 1, "current")
    assert runner.started == [pythons["xpu"]]  # the current interpreter only; the cuda/cpu envs were not needed


def test_cpu_falls_back_to_any_environment_with_torch(pythons, tmp_path, environ):
    runner = RecordingRunner()
    missing = str(tmp_path / "gone" / "bin" / "python")
    plan = resolve_plan(DeviceRequest(backend=Backend.CPU, source="--cpu"), environ=environ, runner=runner,
                        hardware=MACHINES["no_gpu"], environments=envs(pythons, cpu_python=missing))
    assert plan.backend is Backend.CPU and plan.environment in ("cuda", "xpu")
    assert pythons["cuda"] in runner.started  # round 3 probed the others after the first decision failed


def test_unmet_request_is_an_error_after_probing_everything(pythons, environ):
    runner = RecordingRunner()
    with pytest.raises(SelectionError) as info:
        resolve_plan(DeviceRequest(backend=Backend.XPU, source="--xpu"), environ=environ, runner=runner,
                     hardware=MACHINES["nvidia_only"], environments=envs(pythons, xpu_kind="xpu_nodev"))
    assert "no Intel GPU was found" in info.value.message
    assert "Usable backends: CUDA, CPU" in info.value.message


def test_user_variables_reach_the_plan_not_our_process(pythons, monkeypatch):
    monkeypatch.setenv("ZES_ENABLE_SYSMAN", "0")
    import os

    before = dict(os.environ)
    plan = resolve_plan(DeviceRequest(backend=Backend.XPU, source="--xpu"), runner=run_command,
                        hardware=MACHINES["igpu_arc"], environments=envs(pythons))
    assert dict(os.environ) == before
    assert plan.env_kept == {"ZES_ENABLE_SYSMAN": "0"}
    assert plan.env["ONEAPI_DEVICE_SELECTOR"] == "level_zero:1"
    assert plan.env["SYCL_CACHE_DIR"].endswith("/cache/sycl")  # under IPEX_INTEGRATION_HOME (conftest)


def test_hardware_probe_runs_on_a_fake_sysfs_tree(pythons, tmp_path, environ):
    from tests.fakes.sysfs import fake_nvidia_smi_for, fake_nvml_for, make_layout

    root = make_layout(tmp_path / "root", "igpu_arc")
    plan = resolve_plan(DeviceRequest(), environ=environ, root=root, nvml=fake_nvml_for("igpu_arc"),
                        runner=fake_nvidia_smi_for("igpu_arc", fallback=run_command),
                        environments=envs(pythons, cuda=False))
    assert (plan.backend, plan.device_index) == (Backend.XPU, 1)
    assert plan.device_name and "B580" in plan.device_name
