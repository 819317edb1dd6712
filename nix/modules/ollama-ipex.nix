# services.ollama-ipex: Ollama on the GPU you choose, as a hardened system service.
# Named so it does not collide with nixpkgs' own services.ollama.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.ollama-ipex;
  common = import ./common.nix;

  # From pkgs when overlays.default (or intel-xpu) is applied, so overrides of it reach the service.
  base = pkgs.ollama-ipex or (import ../packages.nix { inherit pkgs; }).ollama-ipex;

  args =
    [ "serve" ]
    ++ common.deviceFlags cfg.backend cfg.device
    ++ [
      "--ollama-bin"
      (lib.getExe' cfg.ollamaPackage "ollama")
    ]
    ++ [
      "--host"
      (common.hostPort cfg.listenAddress cfg.port)
    ]
    ++ cfg.extraArgs;
in
{
  options.services.ollama-ipex = {
    enable = lib.mkEnableOption "Ollama on the GPU you choose (ipex-integration)";

    package = lib.mkOption {
      type = lib.types.package;
      default = if base ? override then base.override { ollama = cfg.ollamaPackage; } else base;
      defaultText = lib.literalExpression "pkgs.ollama-ipex (overlays.default), else built from pkgs; with ollamaPackage";
      description = "The package providing ollama-ipex.";
    };

    ollamaPackage = lib.mkOption {
      type = lib.types.package;
      default = import ../ollama.nix pkgs cfg.backend;
      defaultText = lib.literalExpression ''
        backend "xpu": pkgs.ollama-vulkan; "cuda": pkgs.ollama-cuda; "cpu": pkgs.ollama;
        "auto": pkgs.ollama-cuda with nixpkgs.config.cudaSupport, else pkgs.ollama-vulkan
      '';
      description = ''
        The ollama the service runs (`--ollama-bin`). nixpkgs builds one accelerator into each ollama, so
        "auto" reaches Intel GPUs (Vulkan) unless nixpkgs is configured with cudaSupport (then NVIDIA only).
      '';
    };

    backend = lib.mkOption {
      type = lib.types.enum common.backends;
      default = "auto";
      description = ''
        Where Ollama runs: "auto" (NVIDIA CUDA, else Intel XPU, else CPU, decided at every start),
        "cuda", "xpu" (Intel GPU, through Ollama's Vulkan backend) or "cpu".
      '';
    };

    device = lib.mkOption {
      type = lib.types.nullOr lib.types.ints.unsigned;
      default = null;
      example = 0;
      description = "GPU index as `ipex devices` numbers them; needs backend \"cuda\" or \"xpu\".";
    };

    listenAddress = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1";
      description = "Address Ollama listens on. Ollama has no authentication: keep it local.";
    };

    port = lib.mkOption {
      type = lib.types.port;
      default = 11434;
      description = ''
        Port Ollama listens on. The same default as nixpkgs' services.ollama: with both enabled on one
        port, evaluation fails and asks you to move one.
      '';
    };

    dataDir = lib.mkOption {
      type = lib.types.str;
      default = "/var/lib/ollama-ipex";
      description = "HOME of the service, with the models in dataDir/models. Must be below /var/lib.";
    };

    extraArgs = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      description = "More arguments for `ollama-ipex serve` (e.g. --timeout 120); Ollama's own settings are OLLAMA_* variables (environment).";
    };

    environment = lib.mkOption {
      type = lib.types.attrsOf lib.types.str;
      default = { };
      example = {
        OLLAMA_NUM_PARALLEL = "2";
      };
      description = "Variables for the service (OLLAMA_* settings and the like).";
    };

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open `port` in the firewall (only useful with a non-local listenAddress).";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = common.assertions "ollama-ipex" cfg ++ [
      (common.portAssertion "ollama-ipex" cfg "ollama" config.services)
    ];

    # Intel GPUs through Vulkan: the graphics stack provides Mesa's Vulkan driver (ANV).
    hardware.graphics.enable = lib.mkIf (common.usesIntel cfg.backend) (lib.mkDefault true);

    systemd.services.ollama-ipex = {
      description = "Ollama on the GPU you choose (ipex-integration)";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      environment = common.environment cfg.dataDir // { OLLAMA_MODELS = "${cfg.dataDir}/models"; } // cfg.environment;
      serviceConfig = common.serviceConfig cfg "${lib.getExe' cfg.package "ollama-ipex"} ${lib.escapeShellArgs args}";
    };

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [ cfg.port ];
  };
}
