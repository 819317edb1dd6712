# Every package of this flake, as a function of a package set (the overlays and the NixOS modules call it
# with their own pkgs, so nixpkgs.config such as cudaSupport applies).
#
# The ComfyUI and benchmark variants put torch into ipex-integration's own Python environment, so the
# launchers find a usable interpreter without `ipex env create`: CPU, or CUDA when nixpkgs is configured
# with cudaSupport = true. nixpkgs has no torch built for Intel XPU; see docs/nix.md.
{
  pkgs,
  ollama ? pkgs.ollama,
}:
let
  inherit (pkgs) lib;
  build = args: pkgs.callPackage ./package.nix args;

  # ComfyUI v0.3.47 (commit 2f74e179), the seed's version; hash as the seed's flake had it (not rebuilt here).
  comfyuiSrc = pkgs.fetchFromGitHub {
    owner = "Comfy-Org";
    repo = "ComfyUI";
    rev = "v0.3.47";
    hash = "sha256-Kcw91IC1yPzn2NeBLTUyJ2AdFkTdE9v8j6iabK/f7JY=";
  };

  # ComfyUI v0.3.47's requirements.txt (plus requests, which it imports without listing).
  comfyuiDependencies =
    ps: with ps; [
      aiohttp
      alembic
      av
      comfyui-embedded-docs
      comfyui-frontend-package
      comfyui-workflow-templates
      einops
      kornia
      numpy
      pillow
      psutil
      pydantic
      pydantic-settings
      pyyaml
      requests
      safetensors
      scipy
      sentencepiece
      soundfile
      spandrel
      sqlalchemy
      tokenizers
      torch
      torchaudio
      torchsde
      torchvision
      tqdm
      transformers
      yarl
    ];

  # pyproject.toml's `bench` extra.
  benchDependencies =
    ps: with ps; [
      torch
      numpy
      diffusers
      transformers
      matplotlib
    ];
in
rec {
  ipex-integration = build { };

  ipex-benchmarks = build {
    pname = "ipex-benchmarks";
    extraDependencies = benchDependencies;
    description = "ipex-benchmark: tensor, convolution, Stable Diffusion and LLM benchmarks per device";
  };

  comfyui-ipex = build {
    pname = "comfyui-ipex";
    extraDependencies = comfyuiDependencies;
    # The launchers find this ComfyUI unless --comfyui or COMFYUI_PATH says otherwise. It is read-only:
    # run it with --base-directory DIR (the NixOS module does) so outputs and custom nodes go elsewhere.
    makeWrapperArgs = [
      "--set-default"
      "COMFYUI_PATH"
      "${comfyuiSrc}"
    ];
    description = "ComfyUI on the GPU you choose: comfyui-ipex (auto), comfyui-cuda, comfyui-xpu";
  };

  ollama-ipex = build {
    pname = "ollama-ipex";
    # After the user's PATH, so an ollama of their own wins; --ollama-bin wins over both.
    makeWrapperArgs = [
      "--suffix"
      "PATH"
      ":"
      (lib.makeBinPath [ ollama ])
    ];
    description = "Ollama served on the GPU you choose (CUDA on NVIDIA, Vulkan on Intel)";
  };

  comfyui-nodes = import ./nodes.nix { inherit (pkgs) fetchFromGitHub; };

  comfyui-source = comfyuiSrc;
}
