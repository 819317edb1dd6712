"""systemd units that run our launchers as services (`ipex service install|remove|status`).

units.py renders a unit from a fixed device plan; install.py writes, removes and inspects unit files.
The NixOS modules in nix/modules/ are the declarative counterpart: same unit names, same hardening.
"""

from __future__ import annotations

from ..errors import IpexError


class ServiceError(IpexError):
    """Writing, removing or inspecting a systemd unit failed, or would clobber a unit we did not write."""
