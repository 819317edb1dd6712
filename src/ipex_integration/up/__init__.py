"""`ipex up`: ComfyUI and Ollama placed on different GPUs and supervised together."""
