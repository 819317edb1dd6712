# ollama-ipex with an ollama after the user's PATH, so an ollama of their own wins; --ollama-bin wins over both.
{
  lib,
  callPackage,
  ollama,
}:
callPackage ./package.nix {
  pname = "ollama-ipex";
  mainProgram = "ollama-ipex";
  makeWrapperArgs = [
    "--suffix"
    "PATH"
    ":"
    (lib.makeBinPath [ ollama ])
  ];
  description = "Ollama served on the GPU you choose (CUDA on NVIDIA, Vulkan on Intel)";
}
