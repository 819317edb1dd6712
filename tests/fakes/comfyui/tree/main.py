"""Test double of ComfyUI's main.py: the steps that matter for launching it on a device, in the real order.

1. enable argument parsing and parse sys.argv with comfy/cli_args.py (unknown flags exit 2, as upstream);
2. turn --cuda-device into CUDA_VISIBLE_DEVICES and --oneapi-device-selector into ONEAPI_DEVICE_SELECTOR
   before torch is imported (as upstream's `if __name__ == "__main__":` block does);
3. import comfy.model_management, which picks the device (XPU before CUDA);
4. print one line `FAKE_COMFYUI {json}`: the device it chose, argv, cwd, selected variables, whether IPEX was
   imported and whether torch was imported before this file's own import of it;
5. with FAKE_COMFYUI_SERVE=1, serve GET /system_stats on --listen/--port (devices[0].type is the device, as
   upstream's) until interrupted; Ctrl-C prints "Stopped server" as upstream does;
6. exit with FAKE_COMFYUI_EXIT (default 0).
"""

import comfy.options

comfy.options.enable_args_parsing()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from comfy.cli_args import args  # noqa: E402

if __name__ == "__main__":
    if args.cuda_device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(args.cuda_device)
        os.environ["HIP_VISIBLE_DEVICES"] = str(args.cuda_device)
    if getattr(args, "oneapi_device_selector", None) is not None:
        os.environ["ONEAPI_DEVICE_SELECTOR"] = args.oneapi_device_selector

torch_preimported = "torch" in sys.modules

import comfy.model_management  # noqa: E402

VARIABLES = (
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "ONEAPI_DEVICE_SELECTOR", "ZE_AFFINITY_MASK",
    "ZE_ENABLE_PCI_ID_DEVICE_ORDER", "ZES_ENABLE_SYSMAN", "SYCL_CACHE_PERSISTENT", "IPEX_TEST_MARK",
)


def _report(device):
    import torch

    return {
        "device": str(device),
        "type": device.type,
        "index": device.index,
        "argv": sys.argv[1:],
        "cwd": os.getcwd(),
        "env": {k: os.environ[k] for k in VARIABLES if k in os.environ},
        "ipex_imported": "intel_extension_for_pytorch" in sys.modules,
        "torch_preimported": torch_preimported,
        "xpu_available": comfy.model_management.xpu_available,
        "torch_is_fake": getattr(torch, "FAKE", False),
        "pid": os.getpid(),
        "listen": args.listen,
        "port": args.port,
    }


def _serve(report):
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/system_stats":
                self.send_error(404)
                return
            body = json.dumps({
                "system": {"comfyui_version": "fake", "argv": sys.argv},
                "devices": [{"name": report["device"], "type": report["type"], "index": report["index"]}],
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    host = args.listen.split(",")[0]
    server = http.server.ThreadingHTTPServer((host, args.port), Handler)
    print(f"To see the GUI go to: http://{host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nStopped server", flush=True)
    finally:
        server.server_close()


if __name__ == "__main__":
    device = comfy.model_management.get_torch_device()
    report = _report(device)
    print("FAKE_COMFYUI " + json.dumps(report, sort_keys=True), flush=True)
    if os.environ.get("FAKE_COMFYUI_SERVE") == "1":
        _serve(report)
    sys.exit(int(os.environ.get("FAKE_COMFYUI_EXIT", "0")))
