{
  description = "ipex-integration: ComfyUI, Ollama and PyTorch on the GPU you choose (NVIDIA CUDA, Intel XPU or CPU)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      system = "x86_64-linux";
      pkgs = import nixpkgs {
        inherit system;
        overlays = [ self.overlays.default ];
      };
      nodes = pkgs.comfyui-nodes;
    in
    {
      overlays = {
        # ipex-integration, ipex-benchmarks, comfyui-ipex, ollama-ipex, comfyui-nodes.<name>.
        default = final: _prev: {
          inherit (import ./nix/packages.nix { pkgs = final; })
            ipex-integration
            ipex-benchmarks
            comfyui-ipex
            ollama-ipex
            comfyui-nodes
            ;
        };

        # The seed's shape: intel-xpu.{comfyui,ollama} plus direct aliases. Ollama uses its Vulkan backend,
        # upstream's path to Intel GPUs.
        intel-xpu =
          final: prev:
          let
            ipex = import ./nix/packages.nix {
              pkgs = final;
              ollama = import ./nix/ollama.nix prev "xpu";
            };
          in
          {
            intel-xpu = {
              comfyui = ipex.comfyui-ipex;
              ollama = ipex.ollama-ipex;
              benchmarks = ipex.ipex-benchmarks;
              ipex-integration = ipex.ipex-integration;
              nodes = ipex.comfyui-nodes;
            };
            inherit (ipex)
              ipex-integration
              ipex-benchmarks
              comfyui-ipex
              ollama-ipex
              comfyui-nodes
              ;
          };
      };

      packages.${system} = {
        inherit (pkgs)
          ipex-integration
          ipex-benchmarks
          comfyui-ipex
          ollama-ipex
          ;
        default = pkgs.ipex-integration;
      }
      # Custom nodes also as flat packages (a flake's packages must be derivations, not sets).
      // nixpkgs.lib.mapAttrs' (name: src: nixpkgs.lib.nameValuePair "comfyui-node-${name}" src) nodes;

      # comfyui-nodes.<name> as a set (nested sets are not allowed under packages).
      legacyPackages.${system}.comfyui-nodes = nodes;

      # NixOS VM tests (need a machine with KVM and the real nixpkgs): `nix flake check` or
      # `nix build .#checks.x86_64-linux.comfyui-ipex-cpu -L`. See docs/nix.md.
      checks.${system} = {
        comfyui-ipex-cpu = pkgs.testers.runNixOSTest (import ./nix/tests/comfyui-ipex.nix { inherit self; });
        ollama-ipex-cpu = pkgs.testers.runNixOSTest (import ./nix/tests/ollama-ipex.nix { inherit self; });
      };

      nixosModules = {
        default = {
          imports = [
            ./nix/modules/comfyui-ipex.nix
            ./nix/modules/ollama-ipex.nix
          ];
        };
        comfyui-ipex = ./nix/modules/comfyui-ipex.nix;
        ollama-ipex = ./nix/modules/ollama-ipex.nix;
      };
    };
}
