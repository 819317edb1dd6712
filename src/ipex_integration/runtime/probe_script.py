"""The runtime probe: run by ANOTHER interpreter (a backend environment), it prints one JSON object saying what
that environment's torch can do.

Standalone on purpose: standard library and torch only, no import from ipex_integration (the environment it runs
in usually does not have our package), and it must run on any Python >= 3.8. `probe.py` passes this file's text
with `python -c`. Every part is probed inside its own try: a failure becomes an "error" field, never a crash, so
one broken driver call cannot hide what the rest of the environment knows.
"""

import json
import os
import sys

PROBE_VERSION = 1


def _error(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def _site_dirs():
    dirs = []
    try:
        import site

        dirs.extend(site.getsitepackages())
        if getattr(site, "ENABLE_USER_SITE", False):
            dirs.append(site.getusersitepackages())
    except Exception:  # some embedded or frozen Pythons lack parts of `site`
        pass
    try:
        import sysconfig

        paths = sysconfig.get_paths()
        dirs.extend([paths.get("purelib"), paths.get("platlib")])
    except Exception:
        pass
    seen = []
    for d in dirs:
        if d and d not in seen and os.path.isdir(d):
            seen.append(d)
    return seen


def _dist_version(*names):
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8
        return None
    for name in names:
        try:
            return metadata.version(name)
        except Exception:
            continue
    return None


def _build_flavour(torch):
    """cuda / xpu / rocm / cpu, from torch.version and the local version suffix (+cu128, +xpu, +cpu, +rocm6.4)."""
    version = getattr(torch, "__version__", "") or ""
    tv = getattr(torch, "version", None)
    if getattr(tv, "hip", None):
        return "rocm"
    if getattr(tv, "cuda", None):
        return "cuda"
    if getattr(tv, "xpu", None):
        return "xpu"
    suffix = version.partition("+")[2]
    if suffix.startswith("cu"):
        return "cuda"
    if suffix.startswith("rocm"):
        return "rocm"
    if suffix.startswith("xpu"):
        return "xpu"
    # "+cpu", or no suffix and no GPU runtime compiled in (PyPI macOS/aarch64 wheels): a CPU build.
    return "cpu"


def _attr(obj, name):
    value = getattr(obj, name, None)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _cuda_pci_slot(props):
    bus = getattr(props, "pci_bus_id", None)
    dev = getattr(props, "pci_device_id", None)
    dom = getattr(props, "pci_domain_id", None)
    if not all(isinstance(v, int) for v in (bus, dev, dom)):
        return None
    return "%04x:%02x:%02x.0" % (dom, bus, dev)


def _cuda(torch):
    out = {"available": False, "device_count": 0, "devices": []}
    try:
        out["available"] = bool(torch.cuda.is_available())
        if not out["available"]:
            return out
        out["device_count"] = int(torch.cuda.device_count())
    except Exception as exc:
        out["error"] = _error(exc)
        return out
    bf16_current = None
    try:
        # The brief of is_bf16_supported: the *current* device (0 here); without emulation, native support only.
        try:
            bf16_current = bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # torch < 2.3 has no including_emulation
            bf16_current = bool(torch.cuda.is_bf16_supported())
    except Exception:
        pass
    for index in range(out["device_count"]):
        dev = {"index": index}
        try:
            props = torch.cuda.get_device_properties(index)
            dev["name"] = _attr(props, "name")
            dev["total_memory"] = _attr(props, "total_memory")
            major, minor = getattr(props, "major", None), getattr(props, "minor", None)
            if major is not None:
                dev["capability"] = "%s.%s" % (major, minor)
            dev["multi_processor_count"] = _attr(props, "multi_processor_count")
            uuid = getattr(props, "uuid", None)
            if uuid is not None:
                # torch prints a bare UUID; NVML and nvidia-smi say "GPU-<uuid>": use theirs so the two match.
                text = str(uuid)
                dev["uuid"] = text if text.startswith(("GPU-", "MIG-")) else "GPU-" + text
            dev["pci_slot"] = _cuda_pci_slot(props)
            # torch's own rule for native bf16 is compute capability >= 8.0; ask torch itself for device 0.
            if index == 0 and bf16_current is not None:
                dev["bf16"] = bf16_current
            elif major is not None:
                dev["bf16"] = int(major) >= 8
        except Exception as exc:
            dev["error"] = _error(exc)
        out["devices"].append(dev)
    return out


def _xpu(torch):
    out = {"available": False, "device_count": 0, "devices": []}
    xpu = getattr(torch, "xpu", None)
    if xpu is None:
        out["error"] = "this torch has no torch.xpu module (torch < 2.4)"
        return out
    try:
        compiled = getattr(xpu, "_is_compiled", None)
        if compiled is not None:
            out["compiled"] = bool(compiled())
        out["available"] = bool(xpu.is_available())
        if not out["available"]:
            return out
        out["device_count"] = int(xpu.device_count())
    except Exception as exc:
        out["error"] = _error(exc)
        return out
    bf16 = None
    try:
        if hasattr(xpu, "is_bf16_supported"):
            bf16 = bool(xpu.is_bf16_supported())
    except Exception:
        pass
    for index in range(out["device_count"]):
        dev = {"index": index}
        try:
            props = xpu.get_device_properties(index)
            for name in (
                "name",
                "total_memory",
                "driver_version",
                "platform_name",
                "vendor",
                "type",
                "gpu_eu_count",
                "gpu_subslice_count",
                "max_compute_units",
                "has_fp16",
                "has_fp64",
                "has_bfloat16_conversions",
                "architecture",
                "device_id",
            ):
                value = _attr(props, name)
                if value is not None:
                    dev[name] = value
            uuid = getattr(props, "uuid", None)
            if uuid is not None:
                dev["uuid"] = str(uuid)
            # SYCL reports unified (host) memory for integrated GPUs; torch exposes it under one of these names.
            for name in ("is_integrated", "integrated", "host_unified_memory"):
                value = getattr(props, name, None)
                if isinstance(value, bool):
                    dev["integrated"] = value
                    break
            if bf16 is not None:
                dev["bf16"] = bf16
            elif "has_bfloat16_conversions" in dev:
                dev["bf16"] = bool(dev["has_bfloat16_conversions"])
        except Exception as exc:
            dev["error"] = _error(exc)
        out["devices"].append(dev)
    return out


def _torch_part(result):
    import importlib.util

    try:
        spec = importlib.util.find_spec("torch")
    except Exception as exc:
        result["torch_error"] = _error(exc)
        return
    if spec is None:
        return
    origin = getattr(spec, "origin", None)
    if origin:
        # Where torch really lives (a Nix store path on PYTHONPATH, a user site...): the cache watches it too,
        # even when the import below fails (reinstalling torch must invalidate that answer).
        torch_site = os.path.dirname(os.path.dirname(os.path.abspath(origin)))
        if torch_site not in result["site_packages"]:
            result["site_packages"].append(torch_site)
    try:
        import torch
    except BaseException as exc:  # a broken wheel can raise anything, even SystemExit
        result["torch_error"] = _error(exc)
        result["torch_dist_version"] = _dist_version("torch")
        return
    info = {"version": str(getattr(torch, "__version__", "")) or None, "file": getattr(torch, "__file__", None)}
    tv = getattr(torch, "version", None)
    for name in ("cuda", "hip", "xpu"):
        value = getattr(tv, name, None)
        info[name + "_version"] = None if value is None else str(value)
    info["build"] = _build_flavour(torch)
    result["torch"] = info
    result["cuda"] = _cuda(torch)
    result["xpu"] = _xpu(torch)


def _ipex_part(result):
    # Importing IPEX is slow (and fails if its torch pin does not match): read its version from metadata only.
    import importlib.util

    try:
        if importlib.util.find_spec("intel_extension_for_pytorch") is None:
            return
    except Exception as exc:
        result["ipex_error"] = _error(exc)
        return
    result["ipex_version"] = _dist_version("intel_extension_for_pytorch", "intel-extension-for-pytorch")


def probe():
    result = {
        "probe": PROBE_VERSION,
        "python_version": "%d.%d.%d" % sys.version_info[:3],
        "executable": sys.executable,
        "prefix": sys.prefix,
        "site_packages": [],
    }
    try:
        result["site_packages"] = _site_dirs()
    except Exception as exc:
        result["site_error"] = _error(exc)
    _torch_part(result)
    _ipex_part(result)
    return result


def main():
    # Never let the current directory (a checkout with its own torch/ folder) or this script's own folder
    # shadow the environment's torch: `-c` puts "" first on sys.path, running the file puts its folder first.
    here = globals().get("__file__")
    own_dir = os.path.dirname(os.path.abspath(here)) if here else None
    if sys.path and (sys.path[0] == "" or os.path.abspath(sys.path[0]) == own_dir):
        del sys.path[0]
    # Some builds print banners on import straight to fd 1; send those to stderr so stdout holds only our JSON.
    saved = None
    try:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:
        saved = None
    try:
        result = probe()
    finally:
        if saved is not None:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
