# Every package of this flake, as a function of a package set (the overlays and the NixOS modules call it
# with their own pkgs, so nixpkgs.config such as cudaSupport applies).
#
# The ComfyUI and benchmark variants put torch into ipex-integration's own Python environment, so the
# launchers find a usable interpreter without `ipex env create`: CPU, or CUDA when nixpkgs is configured
# with cudaSupport = true. nixpkgs has no torch built for Intel XPU; see docs/nix.md.
{
  pkgs,
  # The ollama that ollama-ipex finds after the user's PATH (see ollama.nix for the choice per backend).
  ollama ? import ./ollama.nix pkgs "auto",
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
    mainProgram = "ipex-benchmark";
    extraDependencies = benchDependencies;
    description = "ipex-benchmark: tensor, convolution, Stable Diffusion and LLM benchmarks per device";
  };

  comfyui-ipex = build {
    pname = "comfyui-ipex";
    mainProgram = "comfyui-ipex";
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

  # callPackage'd on its own so that `ollama-ipex.override { ollama = ...; }` swaps the ollama (the NixOS
  # module does, per backend).
  ollama-ipex = pkgs.callPackage ./ollama-ipex.nix { inherit ollama; };

  comfyui-nodes = import ./nodes.nix { inherit (pkgs) fetchFromGitHub; };

  comfyui-source = comfyuiSrc;

  # ComfyUI's requirements in one Python, for scripts that import ComfyUI itself (the VM test's checkpoint maker).
  comfyui-python = pkgs.python3.withPackages comfyuiDependencies;
}
