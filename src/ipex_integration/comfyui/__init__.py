"""ComfyUI on the chosen device: checkout and install (checkout.py, install.py), the installed version's flags
and their translation (flags.py), the in-process bootstrap run by the backend's interpreter (bootstrap.py),
launching (launch.py) and the status section (status.py)."""

from __future__ import annotations

from ..errors import IpexError


class ComfyUIError(IpexError):
    """No usable ComfyUI checkout, a failed install, or a launch that cannot start."""
