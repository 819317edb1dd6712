from __future__ import annotations

import pytest

from ipex_integration.bench.report.peaks import PEAK_DTYPES, PeakTable, default_table, load_table, peak_for
from ipex_integration.errors import ConfigError


@pytest.mark.parametrize(
    ("torch_name", "entry"),
    [
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("NVIDIA H100 NVL", "h100-nvl"),
        ("NVIDIA H200", "h200-sxm"),
        ("NVIDIA H200 NVL", "h200-nvl"),
        ("NVIDIA A100-SXM4-80GB", "a100-sxm-80"),
        ("NVIDIA A100 80GB PCIe", "a100-pcie-80"),
        ("NVIDIA A100-PCIE-40GB", "a100-40"),
        ("NVIDIA L40S", "l40s"),
        ("NVIDIA L4", "l4"),
        ("NVIDIA GeForce RTX 4090", "rtx-4090"),
        ("Intel(R) Arc(TM) A770 Graphics", "arc-a770"),
        ("Intel(R) Arc(TM) B580 Graphics", "arc-b580"),
        ("Intel(R) Data Center GPU Max 1550", "max-1550"),
    ],
)
def test_torch_device_names_find_their_entry(torch_name, entry):
    peak = peak_for(torch_name)
    assert peak is not None and peak.id == entry


@pytest.mark.parametrize(
    "torch_name",
    ["AMD EPYC 7B13", "NVIDIA GeForce RTX 4090 Laptop GPU", "NVIDIA L40", "Intel(R) Arc(TM) A380 Graphics", "", "cpu"],
)
def test_unknown_devices_have_no_peak(torch_name):
    assert peak_for(torch_name) is None


def test_h100_sxm_numbers_are_the_datasheet_ones():
    peak = peak_for("NVIDIA H100 80GB HBM3")
    assert (peak.tflops_for("bf16"), peak.tflops_for("tf32"), peak.tflops_for("fp32")) == (989.0, 495.0, 67.0)
    assert peak.memory_gbps == 3350
    assert peak.ridge_point["bf16"] == pytest.approx(989e12 / 3350e9)
    pcie = peak_for("NVIDIA H100 PCIe")
    assert (pcie.tflops_for("bf16"), pcie.tflops_for("tf32"), pcie.tflops_for("fp32"), pcie.memory_gbps) == (
        756.0, 378.0, 51.0, 2000)


def test_intel_numbers_and_missing_tf32():
    a770 = peak_for("Intel(R) Arc(TM) A770 Graphics")
    assert a770.tflops_for("bf16") == pytest.approx(138, abs=0.5) and a770.memory_gbps == 560
    assert a770.tflops_for("tf32") is None  # Xe-HPG has no TF32 matrix mode
    assert "derived" in a770.source_for("bf16") and "2.1 GHz" in a770.source_for("bf16")
    assert "ARK" in a770.source_for("memory_gbps")
    b580 = peak_for("Intel(R) Arc(TM) B580 Graphics")
    assert b580.tflops_for("bf16") == pytest.approx(117, abs=1) and b580.memory_gbps == 456


def test_every_shipped_number_has_a_source():
    peaks = default_table().peaks
    assert len(peaks) >= 12
    for peak in peaks:
        assert peak.source and peak.url.startswith("https://"), peak.id
        assert set(peak.tflops) <= set(PEAK_DTYPES) and peak.tflops, peak.id
        assert all(v > 0 for v in peak.tflops.values()) and peak.memory_gbps > 0, peak.id
        assert set(peak.sources) <= set(PEAK_DTYPES) | {"memory_gbps"}, peak.id
        # dense tensor throughput is never below the plain FP32 rate
        assert all(peak.tflops[d] >= peak.tflops["fp32"] for d in ("fp16", "bf16") if d in peak.tflops), peak.id


def test_custom_table_file(tmp_path):
    path = tmp_path / "peaks.toml"
    path.write_text(
        '[devices.mine]\nname = "My GPU"\nmatch = ["Foo 9000"]\ntflops = { bf16 = 100.0 }\nmemory_gbps = 1000\n'
        'source = "my bench notes"\n'
    )
    table = load_table(path)
    assert peak_for("ACME Foo-9000 Pro", table).name == "My GPU"
    assert peak_for("NVIDIA H100 80GB HBM3", table) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[devices.x\n", "not valid TOML"),
        ("title = 'x'\n", r"no \[devices"),
        ('[devices.x]\nname = "X"\ntflops = { fp8 = 1.0 }\nmatch = ["X"]\n', "unknown dtype"),
        ('[devices.x]\nname = "X"\ntflops = { bf16 = 1.0 }\n', "'match'"),
        ('[devices.x]\nmatch = ["X"]\ntflops = { bf16 = "fast" }\n', "malformed"),
    ],
)
def test_malformed_tables_are_config_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        PeakTable.from_toml(text, origin="t.toml")


def test_missing_table_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read peak table"):
        load_table(tmp_path / "nope.toml")
