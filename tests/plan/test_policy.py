"""The selection policy as a table: machine x environments x request x user variables -> plan or error."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ipex_integration.errors import SelectionError
from ipex_integration.plan.model import DeviceRequest
from ipex_integration.plan.policy import PRIORITY, select_device, usable_backends
from ipex_integration.runtime.model import Backend

from .machines import CPU_PY, CUDA_PY, CUR_PY, MACHINES, XPU_PY, envs_on

CUDA, XPU, CPU = Backend.CUDA, Backend.XPU, Backend.CPU
CACHE = Path("/home/u/.cache/ipex-integration")


@dataclass(frozen=True)
class Ok:
    backend: Backend
    index: int | None
    python: str
    env: dict = field(default_factory=dict)  # must be set to exactly these values
    absent: tuple = ()  # must not be set by us
    kept: dict = field(default_factory=dict)
    reason: str | None = None  # a reason line containing this
    warning: str | None = None  # a warning containing this; None: no warnings at all
    name: str | None = None


@dataclass(frozen=True)
class Err:
    message: tuple[str, ...]
    hint: str | None = None


def req(backend=None, source=None, **kw) -> DeviceRequest:
    if source is None:
        source = {CUDA: "--cuda", XPU: "--force-intel-xpu", CPU: "--cpu", None: "default"}[backend]
    return DeviceRequest(backend=backend, source=source, **kw)


XPU_VARS = {
    "ZES_ENABLE_SYSMAN": "1",
    "SYCL_CACHE_PERSISTENT": "1",
    "SYCL_CACHE_DIR": str(CACHE / "sycl"),
    "UR_L0_ENABLE_RELAXED_ALLOCATION_LIMITS": "1",
    "ZE_ENABLE_PCI_ID_DEVICE_ORDER": "1",
}
CPU_VARS = {"CUDA_VISIBLE_DEVICES": "", "ONEAPI_DEVICE_SELECTOR": "opencl:cpu"}

CASES = [
    # --- auto: CUDA > XPU > CPU ------------------------------------------------------------------------------
    pytest.param("nvidia_arc", "all", req(), {}, Ok(
        CUDA, 0, CUDA_PY, {"CUDA_VISIBLE_DEVICES": "0", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"},
        absent=("ONEAPI_DEVICE_SELECTOR", "ZES_ENABLE_SYSMAN"), reason="the first NVIDIA GPU",
        name="NVIDIA GeForce RTX 4090"), id="nvidia+arc auto -> cuda"),
    pytest.param("nvidia_arc", "xpu_only", req(), {}, Ok(
        XPU, 0, XPU_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:0", **XPU_VARS}, absent=("CUDA_VISIBLE_DEVICES",),
        reason="CUDA: skipped, no environment's torch can use CUDA", warning="ipex env create cuda",
        name="Intel Arc A770 Graphics"), id="nvidia+arc, no cuda env -> xpu with a warning"),
    pytest.param("nvidia_arc", "current_cpu", req(), {}, Ok(
        CPU, None, CUR_PY, CPU_VARS, warning="ipex env create xpu"), id="nvidia+arc, cpu torch only -> cpu"),
    pytest.param("igpu_arc", "all", req(), {}, Ok(
        XPU, 1, XPU_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:1", **XPU_VARS},
        reason="skipped integrated Intel 0", name="Intel Arc B580 Graphics"),
        id="igpu+arc auto -> the discrete arc (index counts the igpu)"),
    pytest.param("igpu_arc", "xpu_only", req(allow_integrated=True), {}, Ok(
        XPU, 1, XPU_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:1"}, reason="first discrete"),
        id="igpu+arc --igpu still prefers the discrete gpu"),
    pytest.param("igpu_two_arc", "xpu_only", req(), {}, Ok(
        XPU, 1, XPU_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:1"}, name="Intel Arc A770 Graphics"),
        id="igpu + two arcs -> first discrete"),
    pytest.param("igpu_two_arc", "xpu_only", req(XPU, "--intel-device 2", intel_device=2), {}, Ok(
        XPU, 2, XPU_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:2"}, reason="from --intel-device 2",
        name="Intel Arc B580 Graphics"), id="--intel-device 2 picks the second arc"),
    pytest.param("nvidia_only", "all", req(), {}, Ok(
        CUDA, 0, CUDA_PY, {"CUDA_VISIBLE_DEVICES": "0"}, name="NVIDIA H100 80GB HBM3"), id="nvidia only auto -> cuda 0"),
    pytest.param("igpu_only", "xpu_only", req(), {}, Ok(
        CPU, None, XPU_PY, CPU_VARS, reason="XPU: skipped, the only Intel GPU is integrated"),
        id="igpu only auto -> cpu (igpu only when asked), any env with torch"),
    pytest.param("igpu_only", "xpu_only", req(allow_integrated=True), {}, Ok(
        XPU, 0, XPU_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:0"}, reason="integrated GPU, used because of --igpu",
        name="Intel Arc Graphics (Meteor Lake)"), id="igpu only --igpu -> xpu on the igpu"),
    pytest.param("igpu_only", "xpu_only", req(XPU, "--intel-device 0", intel_device=0), {}, Ok(
        XPU, 0, XPU_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:0"}, reason="used because you asked for it"),
        id="igpu only --intel-device 0 -> xpu on the igpu"),
    pytest.param("igpu_unknown", "xpu_only", req(), {}, Ok(
        XPU, 1, XPU_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:1"}, warning="could not tell whether Intel 1"),
        id="intel gpu of unknown kind is used after the known discrete ones, with a warning"),
    pytest.param("amd_only", "current_cpu", req(), {}, Ok(
        CPU, None, CUR_PY, CPU_VARS, warning="ROCm is not supported"), id="amd only -> cpu with a warning"),
    pytest.param("no_gpu", "current_cpu", req(), {}, Ok(
        CPU, None, CUR_PY, CPU_VARS, reason="CUDA: skipped, no NVIDIA GPU was found"), id="no gpu -> cpu"),
    pytest.param("no_gpu", "all", req(), {}, Ok(
        CPU, None, CPU_PY, CPU_VARS, reason="XPU: skipped, no Intel GPU was found"),
        id="no gpu, all envs -> registered cpu env"),
    pytest.param("no_gpu", "none", req(), {}, Err(("no backend can be used", "no Python environment has torch"),
                                                  hint="ipex env create cpu"), id="no torch anywhere -> error"),
    pytest.param("nvidia_only", "none", req(), {}, Err(("no Python environment has torch",),
                                                       hint="ipex env create cuda"),
                 id="no torch anywhere on nvidia -> hint creates the cuda env"),
    pytest.param("no_gpu", "none", req(needs_torch=False), {}, Ok(CPU, None, CUR_PY, CPU_VARS),
                 id="program without torch (ollama) -> cpu on the current interpreter"),
    pytest.param("nvidia_arc", "none", req(needs_torch=False), {}, Ok(
        CUDA, 0, CUR_PY, {"CUDA_VISIBLE_DEVICES": "0"}), id="program without torch on nvidia -> cuda anyway"),
    # --- forced backends -------------------------------------------------------------------------------------
    pytest.param("nvidia_arc", "all", req(XPU), {}, Ok(
        XPU, 0, XPU_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:0", **XPU_VARS}, absent=("CUDA_VISIBLE_DEVICES",),
        reason="XPU requested by --force-intel-xpu"), id="nvidia+arc --force-intel-xpu -> xpu"),
    pytest.param("nvidia_only", "all", req(XPU), {}, Err(
        ("XPU requested by --force-intel-xpu", "no Intel GPU was found", "NVIDIA H100 80GB HBM3",
         "Usable backends: CUDA, CPU"), hint="drop --force-intel-xpu"), id="xpu forced, no intel gpu -> error"),
    pytest.param("nvidia_only", "all", req(XPU, "IPEX_DEVICE=xpu"), {}, Err(
        ("requested by IPEX_DEVICE=xpu",), hint="unset IPEX_DEVICE"), id="xpu from IPEX_DEVICE, no intel -> hint"),
    pytest.param("nvidia_only", "all", req(XPU, fallback=True), {}, Ok(
        CPU, None, CPU_PY, CPU_VARS, warning="XPU was requested but cannot be used; falling back"),
        id="xpu forced + --fallback, no intel -> next in priority (cpu)"),
    pytest.param("igpu_arc", "current_cpu", req(XPU), {}, Err(
        ("no environment's torch can use XPU", "Intel Arc B580", "no xpu environment registered"),
        hint="ipex env create xpu"), id="xpu forced, no xpu environment -> error"),
    pytest.param("igpu_arc", "xpu_env_cpu_torch", req(XPU), {}, Err(
        ("no environment's torch can use XPU", "xpu: torch 2.8.0+cpu"), hint="ipex env create xpu"),
        id="xpu env holding a cpu torch -> error naming it"),
    pytest.param("igpu_arc", "xpu_env_missing", req(XPU), {}, Err(
        ("xpu: interpreter not found",), hint="ipex env create xpu"), id="xpu env interpreter missing -> error"),
    pytest.param("igpu_arc", "xpu_env_no_device", req(XPU), {}, Err(
        ("no environment's torch can use XPU",), hint="ipex env create xpu"), id="xpu torch seeing no xpu -> error"),
    pytest.param("igpu_arc", "current_xpu", req(XPU), {}, Ok(
        XPU, 1, CUR_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:1"},
        reason="the current interpreter's torch can use XPU"), id="no xpu env but current torch is xpu -> current"),
    pytest.param("igpu_only", "xpu_only", req(XPU), {}, Err(
        ("the only Intel GPU is integrated",), hint="--igpu or --intel-device 0"), id="xpu forced on igpu only -> error"),
    pytest.param("igpu_arc", "all", req(CUDA), {}, Err(
        ("CUDA requested by --cuda", "no NVIDIA GPU was found", "Usable backends: XPU, CPU"), hint="drop --cuda"),
        id="cuda forced, no nvidia gpu -> error"),
    pytest.param("nvidia_only", "xpu_only", req(CUDA), {}, Err(
        ("no environment's torch can use CUDA",), hint="ipex env create cuda"), id="cuda forced, no cuda env -> error"),
    pytest.param("igpu_arc", "all", req(CUDA, fallback=True), {}, Ok(
        XPU, 1, XPU_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:1"}, warning="CUDA was requested but cannot be used"),
        id="cuda forced + --fallback -> xpu"),
    pytest.param("igpu_arc", "all", req(CUDA, fallback=True, intel_device=0), {}, Ok(
        XPU, 0, XPU_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:0"}, warning="falling back"),
        id="cuda + --fallback + --intel-device 0 -> xpu on intel 0"),
    pytest.param("nvidia_arc", "all", req(CPU), {}, Ok(
        CPU, None, CPU_PY, CPU_VARS, absent=("ZES_ENABLE_SYSMAN",), reason="CPU requested by --cpu"),
        id="--cpu on nvidia+arc -> cpu env, gpus hidden"),
    pytest.param("nvidia_arc", "only_xpu_has_torch", req(CPU), {}, Ok(
        CPU, None, XPU_PY, CPU_VARS, reason="any environment's torch runs on CPU"),
        id="--cpu, cpu env missing, current without torch -> any env with torch"),
    pytest.param("nvidia_arc", "current_cuda", req(CPU), {}, Ok(CPU, None, CUR_PY, CPU_VARS),
                 id="--cpu, only a cuda torch (current) -> cpu on it"),
    # --- device indices --------------------------------------------------------------------------------------
    pytest.param("nvidia_only", "all", req(CUDA, "--cuda-device 1", cuda_device=1), {}, Ok(
        CUDA, 1, CUDA_PY, {"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"},
        reason="NVIDIA 1 (NVIDIA H100 80GB HBM3, 0000:2a:00.0) from --cuda-device 1"), id="--cuda-device 1"),
    pytest.param("nvidia_only", "all", req(CUDA, "--cuda-device 2", cuda_device=2), {}, Err(
        ("--cuda-device 2", "valid: 0-1", "NVIDIA 0 (NVIDIA H100 80GB HBM3, 0000:18:00.0)", "0000:2a:00.0"),
        hint="ipex devices"), id="--cuda-device out of range -> error naming the gpus"),
    pytest.param("igpu_arc", "all", req(XPU, "--intel-device 2", intel_device=2), {}, Err(
        ("no Intel GPU 2", "valid: 0-1", "Intel UHD Graphics 770", "Intel Arc B580"),),
        id="--intel-device out of range -> error"),
    pytest.param("nvidia_arc", "all", req(XPU, "--intel-device 3", intel_device=3, fallback=True), {}, Err(
        ("no Intel GPU 3", "valid: 0 "),), id="a bad index is an error even with --fallback"),
    pytest.param("nvidia_arc", "all", req(CPU, cuda_device=0), {}, Err(
        ("conflicting request", "--cuda-device 0"), hint="drop --cuda-device 0 or --cpu"),
        id="--cpu with --cuda-device -> conflict"),
    pytest.param("nvidia_arc", "all", req(CPU, intel_device=0), {}, Err(
        ("conflicting request", "--intel-device 0"),), id="--cpu with --intel-device -> conflict"),
    pytest.param("nvidia_arc", "all", req(XPU, cuda_device=0), {}, Err(
        ("--cuda-device 0 selects a CUDA device", "--force-intel-xpu asks for XPU"),),
        id="--xpu with --cuda-device -> conflict"),
    pytest.param("nvidia_arc", "all", req(cuda_device=0, intel_device=0), {}, Ok(
        CUDA, 0, CUDA_PY, {"CUDA_VISIBLE_DEVICES": "0"}), id="auto with both indices -> priority decides"),
    # --- containers: no sysfs, but torch sees devices ----------------------------------------------------------
    pytest.param("no_gpu", "container_cuda", req(), {}, Ok(
        CUDA, 0, CUDA_PY, {"CUDA_VISIBLE_DEVICES": "0"}, warning="reports 2 CUDA device(s)"),
        id="container: no sysfs gpu, cuda torch sees devices -> cuda with warning"),
    pytest.param("no_gpu", "container_cuda", req(CUDA, "--cuda-device 1", cuda_device=1), {}, Ok(
        CUDA, 1, CUDA_PY, {"CUDA_VISIBLE_DEVICES": "1"}, warning="hardware probe found no NVIDIA GPU"),
        id="container: --cuda-device 1 counts torch's devices"),
    pytest.param("no_gpu", "container_cuda", req(CUDA, "--cuda-device 2", cuda_device=2), {}, Err(
        ("no NVIDIA GPU 2", "valid: 0-1"),), id="container: index beyond torch's devices -> error"),
    pytest.param("no_gpu", "container_xpu", req(XPU), {}, Ok(
        XPU, 0, XPU_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:0"}, warning="reports 1 XPU device(s)"),
        id="container: xpu torch sees a device -> xpu with warning"),
    # --- user variables win -----------------------------------------------------------------------------------
    pytest.param("nvidia_only", "all", req(), {"CUDA_VISIBLE_DEVICES": "1"}, Ok(
        CUDA, 1, CUDA_PY, {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}, absent=("CUDA_VISIBLE_DEVICES",),
        kept={"CUDA_VISIBLE_DEVICES": "1"}, reason="chosen by your CUDA_VISIBLE_DEVICES='1' (kept)"),
        id="user CUDA_VISIBLE_DEVICES is kept and decides"),
    pytest.param("nvidia_only", "all", req(), {"CUDA_VISIBLE_DEVICES": "GPU-7d2a9c4e"}, Ok(
        CUDA, 1, CUDA_PY, {}, absent=("CUDA_VISIBLE_DEVICES",), kept={"CUDA_VISIBLE_DEVICES": "GPU-7d2a9c4e"}),
        id="user CUDA_VISIBLE_DEVICES by uuid prefix -> that gpu"),
    pytest.param("nvidia_only", "all", req(CUDA, "--cuda-device 1", cuda_device=1), {"CUDA_VISIBLE_DEVICES": "0"}, Ok(
        CUDA, 1, CUDA_PY, {"CUDA_VISIBLE_DEVICES": "1"},
        warning="--cuda-device 1 replaces your CUDA_VISIBLE_DEVICES='0'"),
        id="--cuda-device beats the user's CUDA_VISIBLE_DEVICES, with a warning"),
    pytest.param("nvidia_arc", "all", req(), {"CUDA_VISIBLE_DEVICES": ""}, Ok(
        XPU, 0, XPU_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:0"},
        reason="CUDA: skipped, your CUDA_VISIBLE_DEVICES='' hides every NVIDIA GPU"),
        id="user hid all nvidia gpus -> auto skips cuda"),
    pytest.param("nvidia_arc", "all", req(CUDA), {"CUDA_VISIBLE_DEVICES": "-1"}, Err(
        ("hides every NVIDIA GPU",), hint="unset CUDA_VISIBLE_DEVICES"), id="--cuda with gpus hidden by user -> error"),
    pytest.param("nvidia_only", "all", req(), {"CUDA_DEVICE_ORDER": "FASTEST_FIRST"}, Ok(
        CUDA, 0, CUDA_PY, {"CUDA_VISIBLE_DEVICES": "0"}, absent=("CUDA_DEVICE_ORDER",),
        kept={"CUDA_DEVICE_ORDER": "FASTEST_FIRST"}, warning="CUDA numbers GPUs differently"),
        id="user CUDA_DEVICE_ORDER kept, with a warning"),
    pytest.param("igpu_arc", "xpu_only", req(), {"ZES_ENABLE_SYSMAN": "0", "SYCL_CACHE_DIR": "/mine"}, Ok(
        XPU, 1, XPU_PY, {"SYCL_CACHE_PERSISTENT": "1", "UR_L0_ENABLE_RELAXED_ALLOCATION_LIMITS": "1"},
        absent=("ZES_ENABLE_SYSMAN", "SYCL_CACHE_DIR"), kept={"ZES_ENABLE_SYSMAN": "0", "SYCL_CACHE_DIR": "/mine"}),
        id="user XPU variables kept, ours fill the rest"),
    pytest.param("igpu_arc", "xpu_only", req(), {"ONEAPI_DEVICE_SELECTOR": "level_zero:0"}, Ok(
        XPU, 0, XPU_PY, {}, absent=("ONEAPI_DEVICE_SELECTOR",), kept={"ONEAPI_DEVICE_SELECTOR": "level_zero:0"},
        name="Intel UHD Graphics 770"), id="user ONEAPI_DEVICE_SELECTOR kept and decides (even an igpu)"),
    pytest.param("igpu_arc", "xpu_only", req(XPU, "--intel-device 1", intel_device=1),
                 {"ONEAPI_DEVICE_SELECTOR": "level_zero:0"}, Ok(
        XPU, 1, XPU_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:1"}, warning="replaces your ONEAPI_DEVICE_SELECTOR"),
        id="--intel-device beats the user's ONEAPI_DEVICE_SELECTOR, with a warning"),
    pytest.param("igpu_arc", "xpu_only", req(), {"ZE_AFFINITY_MASK": "1"}, Ok(
        XPU, 1, XPU_PY, {"ONEAPI_DEVICE_SELECTOR": "level_zero:1"}, warning="ZE_AFFINITY_MASK='1'"),
        id="user ZE_AFFINITY_MASK -> warning that numbers may shift"),
    pytest.param("nvidia_arc", "all", req(CPU), {"CUDA_VISIBLE_DEVICES": "0"}, Ok(
        CPU, None, CPU_PY, {"ONEAPI_DEVICE_SELECTOR": "opencl:cpu"}, absent=("CUDA_VISIBLE_DEVICES",),
        kept={"CUDA_VISIBLE_DEVICES": "0"}, warning="may still see a GPU"),
        id="--cpu keeps the user's CUDA_VISIBLE_DEVICES, with a warning"),
]


@pytest.mark.parametrize("machine, envs, request_, environ, expected", CASES)
def test_policy(machine, envs, request_, environ, expected):
    environ_before = dict(environ)
    kwargs = dict(hardware=MACHINES[machine], environments=envs_on(machine, envs), environ=environ, cache_dir=CACHE)
    if isinstance(expected, Err):
        with pytest.raises(SelectionError) as info:
            select_device(request_, **kwargs)
        for part in expected.message:
            assert part in info.value.message
        if expected.hint is not None:
            assert info.value.hint and expected.hint in info.value.hint
        return
    plan = select_device(request_, **kwargs)
    assert environ == environ_before  # the policy never touches the caller's variables
    assert (plan.backend, plan.device_index, plan.python) == (expected.backend, expected.index, expected.python)
    for key, value in expected.env.items():
        assert plan.env.get(key) == value, key
    for key in expected.absent:
        assert key not in plan.env, key
    assert dict(plan.env_kept) == expected.kept
    assert plan.reasons and plan.reasons[0].startswith("backend: ")
    if expected.reason:
        assert any(expected.reason in line for line in plan.reasons), plan.reasons
    if expected.warning:
        assert any(expected.warning in line for line in plan.warnings), plan.warnings
    if expected.name:
        assert plan.device_name == expected.name
    assert plan.request == request_


def test_priority_is_cuda_then_xpu_then_cpu():
    assert PRIORITY == (Backend.CUDA, Backend.XPU, Backend.CPU)


def test_plain_plan_has_no_warnings():
    plan = select_device(req(), hardware=MACHINES["nvidia_arc"], environments=envs_on("nvidia_arc", "all"), environ={}, cache_dir=CACHE)
    assert plan.warnings == ()


def test_child_env_keeps_user_values_and_adds_ours():
    environ = {"PATH": "/usr/bin", "ZES_ENABLE_SYSMAN": "0"}
    plan = select_device(req(XPU), hardware=MACHINES["igpu_arc"], environments=envs_on("igpu_arc", "xpu_only"),
                         environ=environ, cache_dir=CACHE)
    child = plan.child_env(environ)
    assert child["ZES_ENABLE_SYSMAN"] == "0"
    assert child["ONEAPI_DEVICE_SELECTOR"] == "level_zero:1"
    assert child["PATH"] == "/usr/bin"


def test_explicit_flag_override_reaches_the_child():
    environ = {"CUDA_VISIBLE_DEVICES": "0"}
    plan = select_device(req(CUDA, "--cuda-device 1", cuda_device=1), hardware=MACHINES["nvidia_only"],
                         environments=envs_on("nvidia_arc", "all"), environ=environ, cache_dir=CACHE)
    assert plan.child_env(environ)["CUDA_VISIBLE_DEVICES"] == "1"


@pytest.mark.parametrize("machine, envs, usable", [
    ("nvidia_arc", "all", (CUDA, XPU, CPU)),
    ("igpu_arc", "all", (XPU, CPU)),
    ("igpu_only", "xpu_only", (CPU,)),
    ("no_gpu", "none", ()),
])
def test_usable_backends(machine, envs, usable):
    assert usable_backends(req(), hardware=MACHINES[machine], environments=envs_on(machine, envs), environ={},
                           cache_dir=CACHE) == usable


def test_plan_round_trips_to_json_ready_dict():
    import json

    plan = select_device(req(XPU), hardware=MACHINES["igpu_arc"], environments=envs_on("igpu_arc", "xpu_only"), environ={},
                         cache_dir=CACHE)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["backend"] == "xpu" and data["device_index"] == 1 and data["torch_device"] == "xpu:0"
    assert data["env"]["ONEAPI_DEVICE_SELECTOR"] == "level_zero:1"
    assert data["request"]["source"] == "--force-intel-xpu"
