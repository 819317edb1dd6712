# The ollama build for a backend ("auto", "cuda", "xpu", "cpu"): `import ./ollama.nix pkgs backend`.
#
# nixpkgs builds one accelerator into each ollama (`acceleration`: null = from nixpkgs.config, "cuda", "rocm" or
# "vulkan"; attributes ollama-cuda, ollama-vulkan, ...). Intel GPUs are reached through Vulkan (upstream's path),
# so "auto" gets the Vulkan build, unless nixpkgs is configured with cudaSupport (an NVIDIA machine), where it
# gets the CUDA build: plain `pkgs.ollama` has neither, and on an Intel-only machine would run on the CPU.
pkgs: backend:
let
  vulkan = pkgs.ollama-vulkan or (pkgs.ollama.override { acceleration = "vulkan"; });
  cuda = pkgs.ollama-cuda or (pkgs.ollama.override { acceleration = "cuda"; });
  builds = {
    auto = if pkgs.config.cudaSupport or false then cuda else vulkan;
    inherit cuda;
    xpu = vulkan;
    cpu = pkgs.ollama; # the launcher hides every GPU from it anyway
  };
in
builds.${backend} or (throw "nix/ollama.nix: no backend ${backend} (auto, cuda, xpu, cpu)")
