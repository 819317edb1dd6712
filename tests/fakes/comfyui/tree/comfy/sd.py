"""Test double of ComfyUI's comfy/sd.py: what its import needs (torch and the device state), nothing more."""

import torch  # noqa: F401

import comfy.model_management  # noqa: F401
