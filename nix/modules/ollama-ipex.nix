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

  # Intel GPUs: upstream Ollama's Vulkan backend; otherwise nixpkgs' ollama (CUDA with cudaSupport).
  ollama =
    if cfg.backend == "xpu" then
      pkgs.ollama-vulkan or (pkgs.ollama.override { acceleration = "vulkan"; })
    else
      pkgs.ollama;

  args =
    [ "serve" ]
    ++ common.deviceFlags cfg.backend cfg.device
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
      default = (import ../packages.nix { inherit pkgs ollama; }).ollama-ipex;
      defaultText = lib.literalExpression "ipex-integration's ollama-ipex with ollama (Vulkan for backend xpu)";
      description = "The package providing ollama-ipex (and an ollama on its PATH).";
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
      description = "Port Ollama listens on.";
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
    assertions = common.assertions "ollama-ipex" cfg;

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
