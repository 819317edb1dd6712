# What the two NixOS modules share: backend/device -> launcher flags, device access, hardening.
# Builtins only, so tests evaluate it without nixpkgs and compare it with the Python side
# (plan/flags.py parses these flags; service/units.py renders the same hardening for other distributions).
rec {
  # The values of IPEX_DEVICE and `ipex devices` (plan/flags.py DEVICE_CHOICES).
  backends = [
    "auto"
    "cuda"
    "xpu"
    "cpu"
  ];

  backendFlags = {
    auto = [ ];
    cuda = [ "--cuda" ];
    xpu = [ "--force-intel-xpu" ];
    cpu = [ "--cpu" ];
  };
  deviceFlag = {
    cuda = "--cuda-device";
    xpu = "--intel-device";
  };

  # The launcher flags for a backend and an optional device index (the modules assert that an index comes
  # with backend cuda or xpu).
  deviceFlags =
    backend: device:
    backendFlags.${backend}
    ++ (
      if device == null then
        [ ]
      else
        [
          deviceFlag.${backend}
          (toString device)
        ]
    );

  # Device nodes as systemd names them (char-<driver> from /proc/devices); names a machine lacks are ignored.
  nvidiaDevices = [
    "char-nvidiactl"
    "char-nvidia-caps"
    "char-nvidia-frontend"
    "char-nvidia-uvm"
  ];
  intelDevices = [ "char-drm" ]; # /dev/dri/card* and renderD*
  deviceAllow =
    backend:
    map (d: "${d} rw") (
      (if builtins.elem backend [ "auto" "cuda" ] then nvidiaDevices else [ ])
      ++ (if builtins.elem backend [ "auto" "xpu" ] then intelDevices else [ ])
    );
  usesIntel = backend: builtins.elem backend [ "auto" "xpu" ];
  supplementaryGroups = [
    "render"
    "video"
  ];

  # host:port as Ollama's --host wants it (IPv6 literals in brackets).
  hostPort =
    address: port:
    if builtins.match ".*:.*" address != null && builtins.substring 0 1 address != "[" then
      "[${address}]:${toString port}"
    else
      "${address}:${toString port}";

  # systemd [Service] hardening shared by both units (DynamicUser, directories and devices come on top).
  hardening = {
    NoNewPrivileges = true;
    LockPersonality = true;
    RestrictRealtime = true;
    RestrictAddressFamilies = [
      "AF_UNIX"
      "AF_INET"
      "AF_INET6"
    ];
    SystemCallArchitectures = "native";
    # The same filter as the units `ipex service` writes: the service set, without the privileged calls; a call
    # outside it fails with EPERM instead of killing the process. @resources stays allowed: the CUDA and Level
    # Zero allocators call mbind/set_mempolicy, OpenMP sched_setaffinity.
    SystemCallFilter = [ "@system-service" "~@privileged" ];
    SystemCallErrorNumber = "EPERM";
    ProtectProc = "invisible"; # other processes' /proc entries are hidden
    # No ProcSubset = "pid": it hides /proc/meminfo and /proc/cpuinfo, which ComfyUI (psutil.virtual_memory at
    # start) and Ollama (its memory and CPU discovery) read, and /proc/driver/nvidia, which CUDA reads.
    PrivateIPC = true;
    PrivateDevices = false; # it would hide the GPUs; DevicePolicy + DeviceAllow narrow access instead
    DevicePolicy = "closed";
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    RestrictNamespaces = true;
    RestrictSUIDSGID = true;
    CapabilityBoundingSet = "";
    UMask = "0077";
    # No MemoryDenyWriteExecute: torch, Triton and the SYCL runtime compile kernels at run time.
  };

  # What both modules check of their options (`name` is the service, e.g. "comfyui-ipex").
  assertions = name: cfg: [
    {
      assertion = cfg.device == null || builtins.elem cfg.backend [ "cuda" "xpu" ];
      message = "services.${name}.device needs backend = \"cuda\" or \"xpu\" (it is \"${cfg.backend}\")";
    }
    {
      assertion = builtins.substring 0 9 cfg.dataDir == "/var/lib/";
      message = "services.${name}.dataDir must be below /var/lib (it is the unit's StateDirectory)";
    }
  ];

  # nixpkgs' own services.comfyui and services.ollama default to the same ports as ours (8188, 11434): with
  # both enabled on one port, one of them could not start, so evaluation stops and says which to change.
  # `services` is config.services; `other` is the nixpkgs service (absent from older nixpkgs: no conflict).
  portAssertion =
    name: cfg: other: services:
    let
      o = services.${other} or { };
    in
    {
      assertion = !(o.enable or false) || (o.port or null) != cfg.port;
      message = "services.${name}.port and services.${other}.port are both ${toString cfg.port} and both services are enabled: give one of them another port";
    };

  # The state directory is HOME and holds the SYCL kernel cache and our own config/cache.
  environment = dataDir: {
    HOME = dataDir;
    SYCL_CACHE_DIR = "${dataDir}/sycl-cache";
    IPEX_INTEGRATION_HOME = "${dataDir}/ipex";
    PYTHONUNBUFFERED = "1";
  };

  # The [Service] settings of both units: hardening, a dynamic user owning dataDir, this backend's devices.
  serviceConfig =
    cfg: execStart:
    hardening
    // {
      Type = "exec";
      ExecStart = execStart;
      Restart = "on-failure";
      RestartSec = "5s";
      DynamicUser = true;
      # No ReadWritePaths: ProtectSystem=strict leaves only the StateDirectory (dataDir: models, outputs,
      # caches) writable, which is all the services write.
      StateDirectory = builtins.substring 9 (builtins.stringLength cfg.dataDir) cfg.dataDir; # below /var/lib/
      StateDirectoryMode = "0750";
      WorkingDirectory = cfg.dataDir;
      DeviceAllow = deviceAllow cfg.backend;
      SupplementaryGroups = supplementaryGroups;
    };
}
