"""Render a results.html in headless Chromium: a full-page PNG, and a check that the page has no console
errors and no layout wider than the window.

    python benchmarks/render_report.py RESULTS.html [OUT.png] [--width 1280] [--browser chromium]

Exit status 0 when the page is clean, 1 when it logged errors or overflows (printed), 2 when no browser is
found. Needs Debian's `chromium` (apt-get install -y chromium) or any Chrome/Chromium on PATH.

How: a copy of the page gets a probe script as the first thing in <head> (window.onerror and
console.error are recorded) that, once the page has loaded, writes what it saw into a
<div id="ipex-render-probe"> with data-* attributes; `--dump-dom` prints the DOM after load, so the probe's
attributes come back without a DevTools connection. Chromium's own log (--enable-logging=stderr) is searched
for "Uncaught" and console lines too. A second run takes the screenshot at the page's full height. The
report itself stays script-free; only the temporary copy carries the probe.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
# A screenshot taller than this is cut: Chromium's compositor refuses very tall windows.
MAX_HEIGHT_PX = 16000
TIMEOUT_S = 120

_PROBE = """<script id="ipex-render-probe-script">
(function () {
  var errors = [];
  window.addEventListener("error", function (e) { errors.push("error: " + (e.message || e.type)); }, true);
  var original = console.error;
  console.error = function () { errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
                                return original.apply(console, arguments); };
  window.addEventListener("load", function () {
    var d = document.documentElement, probe = document.createElement("div");
    probe.id = "ipex-render-probe";
    probe.setAttribute("data-scroll-width", String(Math.max(d.scrollWidth, document.body.scrollWidth)));
    probe.setAttribute("data-inner-width", String(window.innerWidth));
    probe.setAttribute("data-scroll-height", String(Math.max(d.scrollHeight, document.body.scrollHeight)));
    var broken = Array.prototype.filter.call(document.images, function (i) { return !i.complete || !i.naturalWidth; });
    probe.setAttribute("data-broken-images", String(broken.length));
    probe.setAttribute("data-images", String(document.images.length));
    probe.setAttribute("data-errors", errors.join("\\n"));
    document.body.appendChild(probe);
  });
})();
</script>"""

_CHROME_LOG_ERROR = re.compile(r"Uncaught|CONSOLE\(\d+\).*(error|Error)|:ERROR:CONSOLE", re.I)


@dataclass
class Render:
    png: Path | None
    width: int
    inner_width: int | None = None
    scroll_width: int | None = None
    scroll_height: int | None = None
    images: int = 0
    broken_images: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def overflows(self) -> bool:
        return self.scroll_width is None or self.inner_width is None or self.scroll_width > self.inner_width

    @property
    def problems(self) -> list[str]:
        out = list(self.errors)
        if self.scroll_width is None:
            out.append("the probe did not report (page did not finish loading?)")
        elif self.overflows:
            out.append(f"layout is {self.scroll_width}px wide in a {self.inner_width}px window")
        if self.broken_images:
            out.append(f"{self.broken_images} of {self.images} images did not decode")
        return out


def find_browser(explicit: str | None = None) -> str | None:
    for name in ([explicit] if explicit else []) + list(BROWSERS):
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


def _argv(browser: str, profile: Path, width: int, height: int) -> list[str]:
    return [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-extensions", "--hide-scrollbars", "--mute-audio", f"--user-data-dir={profile}",
        f"--window-size={width},{height}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
    ]


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def _attr(dom: str, name: str) -> str | None:
    match = re.search(rf'id="ipex-render-probe"[^>]*\s{name}="([^"]*)"', dom) or re.search(
        rf'<div[^>]*\s{name}="([^"]*)"[^>]*id="ipex-render-probe"', dom
    )
    return html.unescape(match.group(1)) if match else None


def render(page: str | Path, png: str | Path | None, *, width: int = 1280, browser: str | None = None) -> Render:
    """Load `page` in headless Chromium at `width` px; write a full-height screenshot to `png` (if given)."""
    exe = find_browser(browser)
    if exe is None:
        raise FileNotFoundError("no Chromium or Chrome found (Debian: apt-get install -y chromium)")
    source = Path(page).read_text(encoding="utf-8")
    probed = source.replace("<head>", "<head>" + _PROBE, 1) if "<head>" in source else _PROBE + source
    with tempfile.TemporaryDirectory(prefix="ipex-render-") as tmp:
        tmpdir = Path(tmp)
        copy = tmpdir / "page.html"
        copy.write_text(probed, encoding="utf-8")
        url = copy.as_uri()
        dump = _run([*_argv(exe, tmpdir / "profile", width, 900), "--dump-dom", url])
        dom = dump.stdout
        result = Render(png=None, width=width)
        for name, attr in (("inner_width", "data-inner-width"), ("scroll_width", "data-scroll-width"),
                           ("scroll_height", "data-scroll-height"), ("images", "data-images"),
                           ("broken_images", "data-broken-images")):
            value = _attr(dom, attr)
            if value is not None and value.isdigit():
                setattr(result, name, int(value))
        errors = _attr(dom, "data-errors")
        result.errors += [e for e in (errors or "").splitlines() if e.strip()]
        result.errors += [line.strip() for line in dump.stderr.splitlines() if _CHROME_LOG_ERROR.search(line)]
        if dump.returncode != 0 and not dom:
            result.errors.append(f"{Path(exe).name} exited {dump.returncode}: {dump.stderr.strip()[-500:]}")
        if png is not None:
            out = Path(png).resolve()
            out.parent.mkdir(parents=True, exist_ok=True)
            height = min(max(result.scroll_height or 900, 600), MAX_HEIGHT_PX)
            # the screenshot is of the unprobed page: what a reader sees
            plain = tmpdir / "plain.html"
            plain.write_text(source, encoding="utf-8")
            shot = _run([*_argv(exe, tmpdir / "profile", width, height), f"--screenshot={out}", plain.as_uri()])
            if out.exists():
                result.png = out
            else:
                result.errors.append(f"no screenshot written: {shot.stderr.strip()[-500:]}")
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", type=Path, help="a results.html")
    parser.add_argument("png", type=Path, nargs="?", help="where the screenshot goes (default: next to the page)")
    parser.add_argument("--width", type=int, default=1280, help="window width in px (default 1280)")
    parser.add_argument("--browser", help="browser executable (default: chromium, then chrome, on PATH)")
    args = parser.parse_args(argv)
    png = args.png or args.page.with_suffix(".png")
    try:
        result = render(args.page, png, width=args.width, browser=args.browser)
    except FileNotFoundError as exc:
        print(f"render_report: {exc}", file=sys.stderr)
        return 2
    print(f"png: {result.png}  ({result.width}x{result.scroll_height}px page, {result.images} images)")
    for problem in result.problems:
        print(f"problem: {problem}")
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
