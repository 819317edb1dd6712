# NixOS VM test: services.comfyui-ipex on the CPU boots, listens, and runs a one-step workflow with a
# random-weight checkpoint made in the VM (make-checkpoint.py), then the image is checked.
#   nix build .#checks.x86_64-linux.comfyui-ipex-cpu -L      (needs KVM and the real nixpkgs)
{ self }:
{ pkgs, ... }:
let
  ours = import ../packages.nix { inherit pkgs; };
  dataDir = "/var/lib/comfyui-ipex";
  # ComfyUI's API format: checkpoint -> prompts -> one euler step on a 64x64 latent -> decode -> save.
  workflow = pkgs.writeText "workflow.json" (
    builtins.toJSON {
      prompt = {
        "1" = {
          class_type = "CheckpointLoaderSimple";
          inputs.ckpt_name = "tiny.safetensors";
        };
        "2" = {
          class_type = "CLIPTextEncode";
          inputs = {
            text = "a test";
            clip = [ "1" 1 ];
          };
        };
        "3" = {
          class_type = "CLIPTextEncode";
          inputs = {
            text = "";
            clip = [ "1" 1 ];
          };
        };
        "4" = {
          class_type = "EmptyLatentImage";
          inputs = {
            width = 64;
            height = 64;
            batch_size = 1;
          };
        };
        "5" = {
          class_type = "KSampler";
          inputs = {
            model = [ "1" 0 ];
            positive = [ "2" 0 ];
            negative = [ "3" 0 ];
            latent_image = [ "4" 0 ];
            seed = 0;
            steps = 1;
            cfg = 1.0;
            sampler_name = "euler";
            scheduler = "normal";
            denoise = 1.0;
          };
        };
        "6" = {
          class_type = "VAEDecode";
          inputs = {
            samples = [ "5" 0 ];
            vae = [ "1" 2 ];
          };
        };
        "7" = {
          class_type = "SaveImage";
          inputs = {
            images = [ "6" 0 ];
            filename_prefix = "ipex-test";
          };
        };
      };
    }
  );
  checkImage = pkgs.writeText "check-image.py" ''
    import glob, sys
    from PIL import Image
    paths = glob.glob("${dataDir}/output/ipex-test_*.png")
    assert len(paths) == 1, paths
    size = Image.open(paths[0]).size
    assert size == (64, 64), size
    print(paths[0], size)
  '';
in
{
  name = "comfyui-ipex-cpu";
  nodes.machine = {
    imports = [ self.nixosModules.default ];
    services.comfyui-ipex = {
      enable = true;
      backend = "cpu";
    };
    virtualisation = {
      memorySize = 6144;
      diskSize = 8192;
      cores = 2;
    };
  };
  testScript = ''
    machine.wait_for_unit("comfyui-ipex.service")
    machine.wait_for_open_port(8188, timeout=900)
    machine.succeed(
        "mkdir -p ${dataDir}/models/checkpoints",
        "COMFYUI_PATH=${ours.comfyui-source} ${ours.comfyui-python}/bin/python ${./make-checkpoint.py}"
        + " ${dataDir}/models/checkpoints/tiny.safetensors",
        "chmod -R a+rX ${dataDir}/models",
    )
    machine.succeed("curl -sf -H 'Content-Type: application/json' --data @${workflow} http://127.0.0.1:8188/prompt")
    machine.wait_until_succeeds("ls ${dataDir}/output/ipex-test_*.png", timeout=900)
    machine.succeed("${ours.comfyui-python}/bin/python ${checkImage}")
    # The database is under dataDir (--database-url), not beside ComfyUI in the store.
    machine.succeed("test -s ${dataDir}/user/comfyui.db")
  '';
}
