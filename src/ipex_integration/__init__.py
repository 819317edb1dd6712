"""ipex-integration: run AI workloads on the GPU you choose (CUDA, Intel XPU or CPU), and measure them.

Layers (see docs/architecture.md): hardware probe -> runtime probe -> selection policy (DevicePlan)
-> launchers / benchmark / services. The library raises `IpexError`s and never prints or exits;
the CLI in `ipex_integration.cli` maps them to one-line messages and exit codes.
"""

__version__ = "0.1.0"
