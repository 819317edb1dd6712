"""Runtime probe (what one Python environment's torch can do) and the backend-environment registry."""
