"""The CUDA-only code scanner on sample sources."""

from __future__ import annotations

import textwrap

from ipex_integration.nodes.scan import scan_source, scan_tree

SAMPLE = textwrap.dedent('''\
    import torch
    import torch as th
    from torch import cuda as tc

    def bad(model, x):
        model.cuda()                               # 6 cuda-call
        y = x.to("cuda")                           # 7 cuda-device
        z = torch.zeros(3, device="cuda:0")        # 8 cuda-device
        dev = torch.device("cuda")                 # 9 cuda-device
        torch.cuda.synchronize()                   # 10 torch-cuda
        th.cuda.current_device()                   # 11 torch-cuda
        tc.get_device_name(0)                      # 12 torch-cuda
        self_device = "cuda"                       # 13 cuda-device
        with torch.cuda.amp.autocast():            # 14 torch-cuda
            pass

    def good(model, x, device):
        if torch.cuda.is_available():
            model.cuda()
            torch.cuda.synchronize()
        else:
            model.cpu()
        n = torch.cuda.device_count() + torch.cuda.manual_seed_all(0)
        d = "cuda" if torch.cuda.is_available() else "cpu"
        y = x.cuda() if torch.cuda.is_available() else x
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if x.is_cuda:
            torch.cuda.current_stream().synchronize()
        torch.cuda.is_available() and torch.cuda.synchronize()
        if model_management.is_nvidia():
            torch.cuda.empty_cache()
        return x.to(device)

    def outside_else():
        if torch.cuda.is_available():
            pass
        else:
            torch.cuda.synchronize()               # 39 torch-cuda: the else branch is not guarded
    ''')


def test_findings_and_lines():
    found = [(f.line, f.kind) for f in scan_source(SAMPLE, "nodes.py")]
    assert found == [
        (6, "cuda-call"), (7, "cuda-device"), (8, "cuda-device"), (9, "cuda-device"), (10, "torch-cuda"),
        (11, "torch-cuda"), (12, "torch-cuda"), (13, "cuda-device"), (14, "torch-cuda"), (39, "torch-cuda"),
    ]


def test_main_block_is_skipped():
    source = "import torch\nif __name__ == '__main__':\n    torch.zeros(1).cuda()\nelse:\n    torch.cuda.synchronize()\n"
    assert [(f.line, f.kind) for f in scan_source(source)] == [(5, "torch-cuda")]


def test_finding_carries_location_and_code():
    (finding,) = scan_source("import torch\nx = 1\nt = torch.ones(2).cuda()\n", "pkg/mod.py")
    assert finding.location() == "pkg/mod.py:3"
    assert finding.code == "t = torch.ones(2).cuda()"


def test_syntax_error_is_reported_not_raised():
    (finding,) = scan_source("def broken(:\n", "bad.py")
    assert finding.kind == "syntax-error" and finding.line == 1


def test_scan_tree_walks_python_files_only(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("import torch\ntorch.cuda.synchronize()\n")
    (tmp_path / "pkg" / "notes.txt").write_text("x.cuda()\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "hook.py").write_text("x.cuda()\n")
    report = scan_tree(tmp_path, "demo")
    assert report.files == 1
    assert [f.location() for f in report.findings] == ["pkg/a.py:2"]
