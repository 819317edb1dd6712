"""ComfyUI's HTTP and websocket API, as far as the benchmark uses it: POST /prompt, the /ws?clientId= events,
GET /history/{id}, /view, /system_stats. Plain dataclasses out; no torch here (the CLI's process runs it).

One `PromptRun` per queued prompt: our wall clock from POST to the last event, ComfyUI's own
execution_start / execution_success timestamps (ms since the epoch, from /history's status messages), the
arrival times of the sampler's `progress` events, and the written images' descriptors.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ...errors import FailedError


class ComfyAPIError(FailedError):
    """ComfyUI refused a prompt, failed running it, or did not answer."""


@dataclass
class PromptRun:
    prompt_id: str
    wall_s: float  # POST /prompt -> the "executing: None" event that ends the prompt
    execution_start_ms: float | None = None
    execution_success_ms: float | None = None
    progress_s: list[float] = field(default_factory=list)  # arrival time of each progress event (from POST)
    progress_max: int | None = None
    images: list[dict] = field(default_factory=list)  # {"filename", "subfolder", "type"}
    cached_nodes: list[str] = field(default_factory=list)

    @property
    def execution_s(self) -> float | None:
        """The time ComfyUI itself says the prompt ran."""
        if self.execution_start_ms is None or self.execution_success_ms is None:
            return None
        return (self.execution_success_ms - self.execution_start_ms) / 1000.0

    def sampler_s(self) -> float | None:
        """Seconds between the first and the last progress event: (steps - 1) sampler steps."""
        if len(self.progress_s) < 2:
            return None
        return self.progress_s[-1] - self.progress_s[0]


class ComfyClient:
    def __init__(self, url: str, *, timeout: float = 600.0, clock: Callable[[], float] = time.perf_counter) -> None:
        self.url = url.rstrip("/")
        if "://" not in self.url:
            self.url = "http://" + self.url
        self.timeout = timeout
        self.clock = clock
        self.client_id = uuid.uuid4().hex

    # -- plain HTTP

    def get_json(self, path: str, *, timeout: float | None = None) -> Any:
        return json.loads(self._request(path, timeout=timeout))

    def get_bytes(self, path: str) -> bytes:
        return self._request(path)

    def _request(self, path: str, data: bytes | None = None, *, timeout: float | None = None) -> bytes:
        request = urllib.request.Request(self.url + path, data=data,
                                         headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as reply:
                return reply.read()
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")[:2000]
            raise ComfyAPIError(f"ComfyUI at {self.url} answered {exc.code} to {path}: {_error_text(body)}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ComfyAPIError(f"cannot reach ComfyUI at {self.url}{path}: {reason}",
                                hint="is it running? `comfyui-ipex` starts one; --url points at another") from None

    def ready(self) -> bool:
        try:
            self.get_json("/system_stats", timeout=2.0)
            return True
        except ComfyAPIError:
            return False

    def system_stats(self) -> dict:
        return self.get_json("/system_stats")

    # -- one prompt

    def run_prompt(self, workflow: Mapping[str, Any]) -> PromptRun:
        """Queue `workflow`, follow it on the websocket until it ends, then read its history entry."""
        import websocket  # websocket-client; the optional extra `comfyui`

        ws_url = self.url.replace("http", "ws", 1) + "/ws?clientId=" + urllib.parse.quote(self.client_id)
        ws = websocket.create_connection(ws_url, timeout=self.timeout)
        try:
            body = json.dumps({"prompt": dict(workflow), "client_id": self.client_id}).encode()
            start = self.clock()
            answer = json.loads(self._request("/prompt", body))
            if answer.get("node_errors"):
                raise ComfyAPIError(f"ComfyUI refused the workflow: {_error_text(json.dumps(answer['node_errors']))}")
            prompt_id = answer["prompt_id"]
            run = PromptRun(prompt_id=prompt_id, wall_s=0.0)
            while True:
                message = ws.recv()
                if not isinstance(message, str):
                    continue  # binary frames: previews
                event = json.loads(message)
                kind, data = event.get("type"), event.get("data") or {}
                if data.get("prompt_id") not in (None, prompt_id):
                    continue
                if kind == "progress":
                    run.progress_s.append(self.clock() - start)
                    run.progress_max = data.get("max")
                elif kind == "execution_cached":
                    run.cached_nodes = list(data.get("nodes") or [])
                elif kind == "execution_error":
                    raise ComfyAPIError(f"ComfyUI failed the prompt in node {data.get('node_type')}: "
                                        f"{data.get('exception_type')}: {data.get('exception_message')}")
                elif kind == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                    run.wall_s = self.clock() - start
                    break
        finally:
            ws.close()
        self._read_history(run)
        return run

    def _read_history(self, run: PromptRun) -> None:
        entry = self.get_json(f"/history/{run.prompt_id}").get(run.prompt_id) or {}
        for name, data in (entry.get("status") or {}).get("messages") or []:
            if name == "execution_start":
                run.execution_start_ms = data.get("timestamp")
            elif name == "execution_success":
                run.execution_success_ms = data.get("timestamp")
        for output in (entry.get("outputs") or {}).values():
            run.images.extend(output.get("images") or [])

    def image_bytes(self, image: Mapping[str, str]) -> bytes:
        query = urllib.parse.urlencode({k: image.get(k, "") for k in ("filename", "subfolder", "type")})
        return self.get_bytes("/view?" + query)


def _error_text(body: str) -> str:
    return " ".join(body.split())[:400]


def txt2img_workflow(*, checkpoint: str, width: int, height: int, batch: int, steps: int, sampler: str,
                     scheduler: str, seed: int, cfg: float = 7.0, prefix: str = "ipex-bench") -> dict:
    """CheckpointLoaderSimple -> CLIPTextEncode x2 -> EmptyLatentImage -> KSampler -> VAEDecode -> SaveImage,
    in ComfyUI's API format (node id -> class_type and inputs; links as [node id, output index])."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a photograph of a lighthouse at dawn", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": batch}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler, "scheduler": scheduler,
            "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": prefix}},
    }


def image_is_blank(data: bytes) -> tuple[bool, str]:
    """(blank, why): an image whose pixels all have one value carries nothing (a NaN latent decodes to
    black). Pillow reads it; our process never needs numpy for this."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        extrema = image.convert("RGB").getextrema()
        size = image.size
    if all(low == high for low, high in extrema):
        return True, f"{size[0]}x{size[1]} image of one colour {tuple(low for low, _ in extrema)}"
    return False, f"{size[0]}x{size[1]}"
