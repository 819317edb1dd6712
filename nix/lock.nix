# nodes.lock.json -> { <node name> = fetchFromGitHub { owner; repo; rev; hash; fetchSubmodules; }; }
#
# Hashes come from the lock (written by `ipex nodes lock`), never by hand. Builtins only: CI evaluates this
# without nixpkgs by passing a stub, `fetchFromGitHub = args: args`, and compares the result with the lock.
{
  fetchFromGitHub ? (args: args),
  lockFile ? ../nodes.lock.json,
}:
let
  lock = builtins.fromJSON (builtins.readFile lockFile);
  nodes =
    if (lock.version or null) == 1 then
      lock.nodes
    else
      throw "${toString lockFile}: lock version ${toString (lock.version or "missing")}, this flake reads 1";
  hasSubmodules = entry: (entry.submodules or [ ]) != [ ];
  # `hash` is the tree with submodule directories empty (fetchFromGitHub's default); a node that needs its
  # submodules is fetched with them, and then the whole tree's hash applies.
  fetchArgs = entry: {
    inherit (entry) owner repo rev;
    hash = if hasSubmodules entry then entry.hash_with_submodules else entry.hash;
    fetchSubmodules = hasSubmodules entry;
  };
in
builtins.mapAttrs (_name: entry: fetchFromGitHub (fetchArgs entry)) nodes
