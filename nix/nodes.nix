# ComfyUI custom nodes pinned by nodes.lock.json: comfyui-nodes.<name> is the node's source tree.
{ fetchFromGitHub }:
import ./lock.nix { inherit fetchFromGitHub; }
