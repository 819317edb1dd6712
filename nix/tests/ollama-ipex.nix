# NixOS VM test: services.ollama-ipex on the CPU boots and its API answers.
#   nix build .#checks.x86_64-linux.ollama-ipex-cpu -L       (needs KVM and the real nixpkgs)
{ self }:
{ ... }:
{
  name = "ollama-ipex-cpu";
  nodes.machine = {
    imports = [ self.nixosModules.default ];
    services.ollama-ipex = {
      enable = true;
      backend = "cpu";
    };
    virtualisation.memorySize = 2048;
  };
  testScript = ''
    machine.wait_for_unit("ollama-ipex.service")
    machine.wait_for_open_port(11434, timeout=300)
    machine.succeed("curl -sf http://127.0.0.1:11434/api/version | grep -q version")
    machine.succeed("curl -sf http://127.0.0.1:11434/api/tags | grep -q models")
  '';
}
