"""NVML and nvidia-smi readers, against fakes that answer like the real ones."""

from __future__ import annotations

import pytest

from ipex_integration.hardware import nvidia
from tests.fakes.sysfs import (
    H100_0_NV,
    H100_1_NV,
    RTX_4090_NV,
    FakeNvidiaSmi,
    FakeNvml,
    NVMLError_DriverNotLoaded,
    NVMLError_LibraryNotFound,
)


def test_nvml_rows_and_shutdown():
    fake = FakeNvml([H100_0_NV, RTX_4090_NV], driver_version="570.86.15")
    answer = nvidia.query_nvml(fake)
    assert answer.ok
    h100, rtx = answer.rows
    assert h100 == nvidia.NvidiaRow(
        index=0, name="NVIDIA H100 80GB HBM3", uuid=H100_0_NV.uuid, serial="1654922003541",
        pci_slot="0000:18:00.0", pci_device_id=0x2330, memory_total_bytes=81559 * 2**20,
        driver_version="570.86.15", compute_capability="9.0",
    )
    assert rtx.serial is None  # consumer card: NotSupported becomes None, not a failure
    assert rtx.compute_capability == "8.9"
    assert fake.calls[0] == "nvmlInit" and fake.calls[-1] == "nvmlShutdown"


@pytest.mark.parametrize("error, not_found", [(NVMLError_LibraryNotFound(), True), (NVMLError_DriverNotLoaded(), True)])
def test_nvml_init_failure(error, not_found):
    answer = nvidia.query_nvml(FakeNvml(init_error=error))
    assert not answer.ok and answer.not_found is not_found
    assert str(error) in answer.error


def test_nvidia_smi_rows_match_nvml_rows():
    smi = FakeNvidiaSmi([H100_0_NV, H100_1_NV], driver_version="570.86.15")
    from_smi = nvidia.query_nvidia_smi(smi)
    from_nvml = nvidia.query_nvml(FakeNvml([H100_0_NV, H100_1_NV], driver_version="570.86.15"))
    assert from_smi.ok and from_smi.rows == from_nvml.rows
    assert from_smi.rows[1].pci_slot == "0000:2a:00.0"  # "00000000:2A:00.0" normalised like sysfs
    (argv,) = smi.calls
    assert argv[0] == "nvidia-smi" and "--format=csv,noheader,nounits" in argv


def test_nvidia_smi_old_driver_without_compute_cap_still_answers():
    smi = FakeNvidiaSmi([RTX_4090_NV], unsupported_fields=["compute_cap"])
    answer = nvidia.query_nvidia_smi(smi)
    assert answer.ok
    (row,) = answer.rows
    assert row.name == "NVIDIA GeForce RTX 4090" and row.compute_capability is None
    assert len(smi.calls) == 2 and "compute_cap" not in smi.calls[1][1]


@pytest.mark.parametrize(
    "state, expected, not_found",
    [("missing", "not found", True), ("no_driver", "couldn't communicate", False), ("hang", "no answer", False)],
)
def test_nvidia_smi_failures(state, expected, not_found):
    answer = nvidia.query_nvidia_smi(FakeNvidiaSmi([H100_0_NV], state=state))
    assert not answer.ok and expected in answer.error and answer.not_found is not_found


@pytest.mark.parametrize(
    "raw, expected",
    [("00000000:18:00.0", "0000:18:00.0"), (b"00000000:2A:00.0", "0000:2a:00.0"), ("0000:03:00.0", "0000:03:00.0"),
     (None, None)],
)
def test_normalize_bus_id(raw, expected):
    assert nvidia.normalize_bus_id(raw) == expected


def test_real_pynvml_has_the_functions_we_call():
    pynvml = nvidia.load_pynvml()
    if pynvml is None:
        pytest.skip("nvidia-ml-py not installed")
    for name in [n for n in dir(FakeNvml) if n.startswith("nvml")]:
        assert hasattr(pynvml, name), name
