# ipex-integration from this repository (the `ipex`, `ipex-benchmark`, `comfyui-*` and `ollama-ipex` commands).
# Variants add Python dependencies and wrapper arguments; see packages.nix.
{
  lib,
  python3Packages,
  pname ? "ipex-integration",
  # The command `nix run` starts: one of pyproject.toml's [project.scripts].
  mainProgram ? "ipex",
  extraDependencies ? (_ps: [ ]),
  makeWrapperArgs ? [ ],
  description ? "Run ComfyUI, Ollama and PyTorch work on the GPU you choose (NVIDIA CUDA, Intel XPU or CPU)",
}:
let
  pyproject = builtins.fromTOML (builtins.readFile ../pyproject.toml);
in
assert lib.assertMsg (pyproject.project.scripts ? ${mainProgram})
  "${pname}: mainProgram ${mainProgram} is not in pyproject.toml's [project.scripts]";
python3Packages.buildPythonApplication {
  inherit pname makeWrapperArgs;
  inherit (pyproject.project) version;
  pyproject = true;

  # Only what the wheel is built from: editing docs or tests does not rebuild the package.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      ../README.md
      ../LICENSE # pyproject.toml's license-files: the wheel ships it
      ../src
    ];
  };

  build-system = [ python3Packages.setuptools ];

  dependencies =
    (with python3Packages; [
      platformdirs
      psutil
      rich
      nvidia-ml-py
      filelock # the state layer's inter-process locks
      tomlkit # TOML edits that keep the user's comments
      packaging
      ollama # the Ollama API client (the `ollama` extra)
    ])
    ++ extraDependencies python3Packages;

  # The test suite needs fake GPUs, git and a ComfyUI checkout; CI runs it outside Nix (scripts/test.sh).
  doCheck = false;
  pythonImportsCheck = [
    "ipex_integration.cli.main"
    "ipex_integration.service.units"
  ];

  meta = {
    inherit description;
    license = lib.licenses.mit;
    inherit mainProgram;
    platforms = lib.platforms.linux;
  };
}
