"""The text of `--help-gpu` (ipex, comfyui-ipex, ollama-ipex). It states the rules plan/policy.py implements;
tests check that every flag and variable it names is real."""

from .vocabulary import BACKEND_CHOICES, HELP_NAME, LONG_NAME, VENDOR_NAME, priority_text

_PRIORITY = priority_text(HELP_NAME)
_AUTO = priority_text(LONG_NAME, ", else ")
_FIRST_USABLE = priority_text(VENDOR_NAME, " if usable, else ")

HELP_GPU = f"""\
GPU selection (ipex devices, comfyui-ipex, ollama-ipex, ipex-benchmark)

Default: auto-detect, {_PRIORITY}. A backend is used when its GPU is present AND a Python
environment's torch can drive it (`ipex env create {'|'.join(BACKEND_CHOICES)}`). `ipex devices` shows what each
choice would run on, and why.

Options:
  (default)            auto: {_AUTO}
  --cuda               force NVIDIA CUDA
  --force-intel-xpu    force Intel XPU even when CUDA is available (alias: --xpu)
  --cpu                force CPU; GPUs are hidden from the program
  --cuda-device N      NVIDIA GPU N, in PCI order as `ipex devices` lists it (implies --cuda)
  --intel-device N     Intel GPU N, in PCI order, integrated GPUs counted, as Level Zero numbers them
                       (implies --force-intel-xpu); may point at an integrated GPU
  --igpu               allow an integrated Intel GPU when there is no discrete one
                       (by default the first discrete Intel GPU is used, an iGPU only when asked)
  --fallback           if the forced backend cannot be used, fall back to the next one (with a warning)
                       instead of failing
  --dry-run            (launchers) print the plan and the command, start nothing; --json for JSON

  --cpu, --cuda and --force-intel-xpu exclude one another. A forced backend that cannot be used is an error
  that says what is available and how to fix it.

Environment variable:
  IPEX_DEVICE=auto|cuda|xpu|cpu   the default backend; command-line flags win over it

Variables set for the program (a value you set yourself always wins and is kept as it is):
  NVIDIA:  CUDA_VISIBLE_DEVICES=N, CUDA_DEVICE_ORDER=PCI_BUS_ID
  Intel:   ONEAPI_DEVICE_SELECTOR=level_zero:N, ZE_ENABLE_PCI_ID_DEVICE_ORDER=1, ZES_ENABLE_SYSMAN=1,
           SYCL_CACHE_PERSISTENT=1, SYCL_CACHE_DIR=<ipex cache dir>/sycl,
           UR_L0_ENABLE_RELAXED_ALLOCATION_LIMITS=1
  CPU:     CUDA_VISIBLE_DEVICES= (empty), ONEAPI_DEVICE_SELECTOR=opencl:cpu
  One exception: an explicit --cuda-device N or --intel-device N replaces your own CUDA_VISIBLE_DEVICES or
  ONEAPI_DEVICE_SELECTOR, with a warning. Without those flags, your CUDA_VISIBLE_DEVICES or
  ONEAPI_DEVICE_SELECTOR decides the device.

Commands:
  comfyui-ipex         ComfyUI, auto-detected device (accepts all the options above)
  comfyui-cuda         ComfyUI on NVIDIA CUDA (same as comfyui-ipex --cuda)
  comfyui-xpu          ComfyUI on Intel XPU (same as comfyui-ipex --force-intel-xpu)
  ipex devices         GPUs, environments, and what each choice would run on

Examples:
  comfyui-ipex                        # {_FIRST_USABLE}
  comfyui-ipex --force-intel-xpu      # the first discrete Intel GPU
  comfyui-ipex --intel-device 1       # Intel GPU 1 from `ipex devices`
  IPEX_DEVICE=cpu comfyui-ipex        # CPU only
  ipex devices --cuda-device 1        # show the plan for NVIDIA GPU 1 without starting anything
"""
