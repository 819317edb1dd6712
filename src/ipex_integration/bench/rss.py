"""The worker's resident host memory while one op runs: a thread samples RSS (psutil) every
SAMPLE_INTERVAL_S and keeps the largest value, so each measurement reports its own high-water mark rather
than the process's lifetime maximum (which every later row would inherit)."""

from __future__ import annotations

import threading

# 50 ms: fine enough to catch an allocation that lives for one repetition of a >50 ms op, coarse enough
# that the sampler costs nothing measurable (one /proc read per tick on a core the op is not using).
SAMPLE_INTERVAL_S = 0.05


class RssSampler:
    """`with RssSampler() as s: ...` then `s.max_bytes` (None where psutil cannot read the process)."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.max_bytes: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process = None

    def _sample(self) -> None:
        try:
            rss = int(self._process.memory_info().rss)
        except Exception:  # noqa: BLE001 - a failed read is a missing sample, not a failed measurement
            return
        if self.max_bytes is None or rss > self.max_bytes:
            self.max_bytes = rss

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> "RssSampler":
        try:
            import psutil

            self._process = psutil.Process()
        except Exception:  # noqa: BLE001 - no psutil: no number
            return self
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._sample()  # the end state too: an op shorter than one tick still gets two samples
