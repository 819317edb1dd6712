# services.comfyui-ipex: ComfyUI on the GPU you choose, as a hardened system service.
# Named so it does not collide with nixpkgs' own services.comfyui.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.comfyui-ipex;
  common = import ./common.nix;
  nodeNames = builtins.attrNames (import ../lock.nix { });
  # From pkgs when overlays.default (or intel-xpu) is applied, so overrides of it reach the service.
  ours = import ../packages.nix { inherit pkgs; };
  nodes = pkgs.comfyui-nodes or ours.comfyui-nodes;

  args =
    common.deviceFlags cfg.backend cfg.device
    ++ [
      "--listen"
      cfg.listenAddress
      "--port"
      (toString cfg.port)
      # The ComfyUI in the store is read-only: models, custom nodes, inputs and outputs live in dataDir.
      "--base-directory"
      cfg.dataDir
      # Else ComfyUI puts comfyui.db beside itself, in the read-only store (as nixpkgs' comfyui module does).
      "--database-url"
      "sqlite:///${cfg.dataDir}/user/comfyui.db"
    ]
    ++ cfg.extraArgs;

  # Symlink the chosen nodes into dataDir/custom_nodes; drop links into the store that are no longer chosen.
  linkNodes = ''
    mkdir -p ${cfg.dataDir}/custom_nodes ${cfg.dataDir}/user
    for link in ${cfg.dataDir}/custom_nodes/*; do
      if [ -L "$link" ] && case "$(readlink "$link")" in ${builtins.storeDir}/*) true;; *) false;; esac; then
        rm "$link"
      fi
    done
  ''
  + lib.concatMapStrings (name: ''
    ln -sfn ${nodes.${name}} ${cfg.dataDir}/custom_nodes/${name}
  '') cfg.customNodes;
in
{
  options.services.comfyui-ipex = {
    enable = lib.mkEnableOption "ComfyUI on the GPU you choose (ipex-integration)";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.comfyui-ipex or ours.comfyui-ipex;
      defaultText = lib.literalExpression "pkgs.comfyui-ipex (overlays.default), else built from pkgs";
      description = "The package providing comfyui-ipex (with ComfyUI and a Python environment with torch).";
    };

    backend = lib.mkOption {
      type = lib.types.enum common.backends;
      default = "auto";
      description = ''
        Where ComfyUI runs: "auto" (NVIDIA CUDA, else Intel XPU, else CPU, decided at every start),
        "cuda", "xpu" (Intel GPU) or "cpu". A forced backend that cannot be used fails the start with a
        message in the journal instead of silently running elsewhere.
      '';
    };

    device = lib.mkOption {
      type = lib.types.nullOr lib.types.ints.unsigned;
      default = null;
      example = 1;
      description = ''
        GPU index as `ipex devices` numbers them (PCI order; Intel integrated GPUs counted). Needs backend
        "cuda" or "xpu". null: the first GPU of that backend (the first discrete one for Intel).
      '';
    };

    listenAddress = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1";
      description = "Address ComfyUI listens on. ComfyUI has no authentication: keep it local, or put a proxy in front.";
    };

    port = lib.mkOption {
      type = lib.types.port;
      default = 8188;
      description = ''
        Port ComfyUI listens on. The same default as nixpkgs' services.comfyui: with both enabled on one
        port, evaluation fails and asks you to move one.
      '';
    };

    dataDir = lib.mkOption {
      type = lib.types.str;
      default = "/var/lib/comfyui-ipex";
      description = ''
        ComfyUI's base directory (models, custom_nodes, input, output, user) and the service's HOME and
        SYCL kernel cache. Must be below /var/lib: it is the unit's StateDirectory (DynamicUser).
      '';
    };

    customNodes = lib.mkOption {
      type = lib.types.listOf (lib.types.enum nodeNames);
      default = [ ];
      example = [ "comfyui_controlnet_aux" ];
      description = ''
        Custom nodes from nodes.lock.json, linked into dataDir/custom_nodes at each start. Their Python
        requirements are not added to the package; see docs/nix.md.
      '';
    };

    extraArgs = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [ "--lowvram" ];
      description = "More arguments for ComfyUI (after ours, so they win where ComfyUI lets the last one win).";
    };

    environment = lib.mkOption {
      type = lib.types.attrsOf lib.types.str;
      default = { };
      example = {
        ZE_AFFINITY_MASK = "0";
      };
      description = "Variables for the service. Variables you set are kept; the launcher only adds defaults.";
    };

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open `port` in the firewall (only useful with a non-local listenAddress).";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = common.assertions "comfyui-ipex" cfg ++ [
      (common.portAssertion "comfyui-ipex" cfg "comfyui" config.services)
    ];

    # Intel GPUs: the Level Zero loader and Intel's compute runtime, which torch.xpu uses.
    hardware.graphics = lib.mkIf (common.usesIntel cfg.backend) {
      enable = lib.mkDefault true;
      extraPackages = [
        pkgs.intel-compute-runtime
        pkgs.level-zero
      ];
    };

    systemd.services.comfyui-ipex = {
      description = "ComfyUI on the GPU you choose (ipex-integration)";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      environment = common.environment cfg.dataDir // cfg.environment;
      preStart = linkNodes;
      serviceConfig = common.serviceConfig cfg "${lib.getExe' cfg.package "comfyui-ipex"} ${lib.escapeShellArgs args}";
    };

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [ cfg.port ];
  };
}
