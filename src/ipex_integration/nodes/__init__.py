"""ComfyUI custom nodes at pinned commits, verified by Nix-compatible NAR hashes (see docs/nodes.md)."""

from .nar import nar_hash

__all__ = ["nar_hash"]
