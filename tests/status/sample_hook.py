"""A status hook module as later modules (comfyui/status.py, ...) will write them: `checks(ctx) -> list[Check]`."""

from ipex_integration.status.model import Check, Level


def checks(ctx):
    return [Check("Sample", "sample component", Level.OK, f"saw {len(ctx.hardware.gpus)} GPU(s)")]
