"""`ipex-benchmark comfyui`: how fast ComfyUI itself generates, through its own API.

A txt2img workflow (comfyui_client.txt2img_workflow) is queued with POST /prompt on each server under test
("ours": ComfyUI started by our launcher pipeline; "stock": `python main.py` of the same checkout in the same
environment; "attached": a running one given by --url), alternating between the servers each repetition so
drift on the machine hits both alike. Per image it keeps:
- ComfyUI's own time (execution_success - execution_start timestamps) -> the sample, and it/s as SD.Next
  counts it: steps x batch / image time;
- our wall clock (POST -> the end-of-prompt event), and sampler-only it/s from the progress events;
- the first prompt's time (the checkpoint load) apart from the rest; VRAM from /system_stats;
- that an image was written and is not one colour (a failed sampler decodes to a constant image).
A measurement whose image is missing or blank is FAILED, never a time.
"""

from __future__ import annotations

import datetime as _dt
import platform
import statistics
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Sequence

from ...errors import UsageError
from ..model import BenchReport, BenchSpec, DeviceRun, Measurement, Stats, Status
from .comfyui_client import ComfyAPIError, ComfyClient, PromptRun, image_is_blank, txt2img_workflow

NAME = "comfyui"
PEERS = ("stock", "diffusers")


@dataclass(frozen=True)
class ComfyConfig:
    family: str = "sd15"  # the local checkpoint: tiny, sd15, sdxl (comfyui_checkpoint.FAMILIES)
    batches: tuple[int, ...] = (1,)
    width: int = 512
    height: int = 512
    steps: int = 20
    sampler: str = "euler"
    scheduler: str = "normal"
    images: int = 3  # timed prompts per server, batch size and repetition
    warmup: int = 1  # untimed prompts per server and batch size, after the first (load) prompt
    repetitions: int = 2
    seed: int = 0
    timeout_s: float = 600.0

    def __post_init__(self) -> None:
        if not self.batches or any(b < 1 for b in self.batches):
            raise UsageError("--batch needs positive batch sizes, e.g. 1,4")
        for name, value in (("--width", self.width), ("--height", self.height)):
            if value < 8 or value % 8:
                raise UsageError(f"{name} must be a positive multiple of 8 (the latent is 1/8 the size), got {value}")
        for name, value, low in (("--steps", self.steps, 1), ("--images", self.images, 1),
                                 ("--warmup", self.warmup, 0), ("--repetitions", self.repetitions, 1)):
            if value < low:
                raise UsageError(f"{name} must be at least {low}, got {value}")

    def spec(self, batch: int, server: str) -> BenchSpec:
        return BenchSpec(NAME, f"{self.family}_txt2img", "-",
                         f"{self.width}x{self.height} {self.steps} steps b{batch}", variant=server)

    def to_dict(self) -> dict:
        return {**asdict(self), "workload": NAME, "batches": list(self.batches)}


@dataclass
class Server:
    """One ComfyUI under test: a name ("ours", "stock", "attached") and its client."""

    name: str
    client: ComfyClient
    load_s: float | None = None  # the first prompt's wall time minus a warm prompt's


def workflow_for(config: ComfyConfig, checkpoint: str, batch: int, index: int) -> dict:
    # A new seed per prompt: ComfyUI caches a node whose inputs did not change and would skip the sampler.
    return txt2img_workflow(checkpoint=checkpoint, width=config.width, height=config.height, batch=batch,
                            steps=config.steps, sampler=config.sampler, scheduler=config.scheduler,
                            seed=config.seed * 100003 + index)


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


def run_comfyui_benchmark(config: ComfyConfig, servers: Sequence[Server], checkpoint: str, *,
                          command: Sequence[str], progress: Callable[[str], None] = lambda _: None) -> BenchReport:
    """Every server, every batch size, `images` prompts each, alternating servers per repetition."""
    next_index = _Counter()
    runs: dict[str, dict[int, list[tuple[PromptRun, str | None]]]] = {s.name: {b: [] for b in config.batches}
                                                                     for s in servers}
    errors: dict[str, str] = {}
    for server in servers:  # the first prompt loads the checkpoint: timed apart
        try:
            first = server.client.run_prompt(workflow_for(config, checkpoint, config.batches[0], next_index()))
            warm = None
            for batch in config.batches:
                for _ in range(config.warmup):
                    warm = server.client.run_prompt(workflow_for(config, checkpoint, batch, next_index()))
            if warm is not None and config.batches[0] == config.batches[-1]:
                server.load_s = max(0.0, first.wall_s - warm.wall_s)
            else:
                server.load_s = first.wall_s
            progress(f"{server.name}: first prompt {first.wall_s:.2f} s (checkpoint load included)")
        except ComfyAPIError as exc:
            errors[server.name] = str(exc)
    for rep in range(config.repetitions):
        order = list(servers) if rep % 2 == 0 else list(reversed(servers))
        for server in order:
            if server.name in errors:
                continue
            for batch in config.batches:
                for _ in range(config.images):
                    try:
                        run = server.client.run_prompt(workflow_for(config, checkpoint, batch, next_index()))
                        runs[server.name][batch].append((run, _check_image(server.client, run)))
                    except ComfyAPIError as exc:
                        errors[server.name] = str(exc)
                        break
                progress(f"{server.name}: repetition {rep + 1}/{config.repetitions}, batch {batch} done")
    device_runs = [_device_run(config, s, runs[s.name], errors.get(s.name)) for s in servers]
    return BenchReport(created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                       command=list(command), config={**config.to_dict(), "checkpoint": checkpoint,
                                                      "ratios": ratios(device_runs)},
                       system={"python": platform.python_version(), "platform": platform.platform()},
                       runs=device_runs)


def _check_image(client: ComfyClient, run: PromptRun) -> str | None:
    """None when every image of the prompt was written and is not blank, else why not."""
    if not run.images:
        return "no image in the prompt's history outputs"
    for image in run.images:
        blank, why = image_is_blank(client.image_bytes(image))
        if blank:
            return f"{image.get('filename')}: blank ({why})"
    return None


def _device_run(config: ComfyConfig, server: Server, by_batch: Mapping[int, list[tuple[PromptRun, str | None]]],
                error: str | None) -> DeviceRun:
    try:
        stats = server.client.system_stats()
    except ComfyAPIError:
        stats = {}
    device = (stats.get("devices") or [{}])[0]
    system = stats.get("system") or {}
    run = DeviceRun(backend=_backend_of(device.get("type")), device_name=str(device.get("name") or "unknown"),
                    device={"server": server.name, "url": server.client.url, "type": device.get("type"),
                            "vram_total": device.get("vram_total"), "vram_free": device.get("vram_free"),
                            "torch_vram_total": device.get("torch_vram_total"),
                            "torch_vram_free": device.get("torch_vram_free")},
                    software={"comfyui_version": system.get("comfyui_version"),
                              "pytorch_version": system.get("pytorch_version"),
                              "python_version": system.get("python_version")},
                    error=error)
    for batch, prompts in by_batch.items():
        run.measurements.append(_measurement(config, server, batch, prompts, device))
    return run


def _backend_of(device_type: str | None) -> str:
    return {"cuda": "cuda", "xpu": "xpu", "cpu": "cpu"}.get(str(device_type), str(device_type or "unknown"))


def _measurement(config: ComfyConfig, server: Server, batch: int, prompts: list[tuple[PromptRun, str | None]],
                 device: Mapping[str, Any]) -> Measurement:
    spec = config.spec(batch, server.name)
    if not prompts:
        return Measurement(spec, Status.FAILED, reason="no prompt finished")
    bad = [why for _, why in prompts if why]
    if bad:
        return Measurement(spec, Status.FAILED, reason=bad[0])
    samples = [run.execution_s if run.execution_s is not None else run.wall_s for run, _ in prompts]
    walls = [run.wall_s for run, _ in prompts]
    sampler = [(len(run.progress_s) - 1) * batch / run.sampler_s() for run, _ in prompts
               if run.sampler_s()]
    vram_used = None
    if device.get("torch_vram_total") is not None and device.get("torch_vram_free") is not None:
        vram_used = int(device["torch_vram_total"]) - int(device["torch_vram_free"])
    return Measurement(
        spec, Status.OK, samples_s=samples, stats=Stats.from_samples(samples), items=config.steps * batch,
        peak_memory_bytes=vram_used,
        extra={"batch": batch, "server": server.name,
               "timing": "ComfyUI's execution_start -> execution_success per prompt",
               "it_s_counting": "steps x batch / image time (SD.Next)",
               "wall_s": walls, "wall_median_s": statistics.median(walls),
               "s_per_image": statistics.median(samples) / batch,
               "sampler_it_s": statistics.median(sampler) if sampler else None,
               "load_s": server.load_s, "images_checked": sum(len(r.images) for r, _ in prompts)},
    )


def ratios(runs: Sequence[DeviceRun]) -> dict[str, float]:
    """ours/stock it/s per shape: above 1 our launcher is faster, 0.98 is the goal's floor."""
    by = {r.device.get("server"): {m.spec.shape: m for m in r.measurements} for r in runs}
    out: dict[str, float] = {}
    for shape, ours in (by.get("ours") or {}).items():
        stock = (by.get("stock") or {}).get(shape)
        if stock is not None and ours.its and stock.its:
            out[shape] = round(ours.its / stock.its, 4)
    return out


def summary_lines(report: BenchReport) -> list[str]:
    """Servers side by side: it/s (SD.Next), sampler it/s, s/image, load; then ours/stock."""
    lines = [f"ComfyUI txt2img, {report.config.get('family')} {report.config.get('width')}x"
             f"{report.config.get('height')}, {report.config.get('steps')} steps, {report.config.get('sampler')}"]
    for run in report.runs:
        who = run.device.get("server") or run.device.get("peer") or "?"
        where = f"{run.backend}: {run.device_name}"
        if run.error:
            lines.append(f"  {who:<10} {where}: {run.error}")
        for m in run.measurements:
            if m.stats is None:
                lines.append(f"  {who:<10} {m.spec.shape:<28} {m.status.value}: {m.reason}")
                continue
            sampler = m.extra.get("sampler_it_s")
            load = m.extra.get("load_s")
            lines.append(f"  {who:<10} {m.spec.shape:<28} {m.its:8.2f} it/s  sampler "
                         f"{'-' if sampler is None else f'{sampler:.2f}'} it/s  "
                         f"{m.stats.median_s:7.3f} s/prompt (n={m.stats.n})"
                         + ("" if load is None else f"  load {load:.2f} s"))
    for shape, ratio in (report.config.get("ratios") or {}).items():
        lines.append(f"  ours/stock {shape}: {ratio:.3f}")
    return lines
