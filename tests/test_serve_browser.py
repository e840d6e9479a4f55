"""`cnnedge webcam --serve` in a real headless browser: the page loads, plays the MJPEG
stream and shows the reading as it appears.

The browser is the distribution's Chromium (``apt-get install chromium``; .ci/run installs
it), driven by Playwright's Python package (the dev extra) through its bundled driver:
``playwright install`` is never run and no browser build is downloaded. When either is
missing the test is skipped with the reason, which pytest's ``-ra`` prints.

``CNNEDGE_SCREENSHOT=docs/webcam-browser.png`` saves the page as the docs show it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from webcam_clips import cnnedge_process, make_seven_clip

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_digits.onnx"
# Flags for a browser in a container or CI job: no GPU, no sandbox (root), no calls home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium_or_skip() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        pytest.skip(
            f"browser test: Playwright's Python package is not installed ({exc}); "
            "pip install playwright (in the dev extra; it drives the system Chromium)"
        )
    override = os.environ.get("CNNEDGE_CHROMIUM")
    if override:
        if not os.access(override, os.X_OK):
            pytest.skip(f"browser test: CNNEDGE_CHROMIUM={override} is not an executable")
        return override
    found = next(filter(None, (shutil.which(n) for n in ("chromium", "chromium-browser"))), None)
    if found is None:
        pytest.skip(
            "browser test: Chromium not found (no chromium or chromium-browser on PATH); "
            "install it with: apt-get install -y chromium (.ci/run does)"
        )
    return found


@pytest.mark.timing
def test_browser_shows_the_live_video_and_the_reading(tmp_path, mnist) -> None:
    chromium = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    clip = tmp_path / "seven.mp4"  # run from tmp_path as "seven.mp4": the page's title
    # 6 s at the file's 15 fps: time for the browser to start and watch the 7 appear.
    make_seven_clip(clip, mnist, digit_frames=80)
    with cnnedge_process(
        "webcam", "-c", clip.name, "-m", str(TINY), "--json", "--serve", "127.0.0.1:0",
        headless=True, cwd=tmp_path,
    ) as proc:  # fmt: skip
        lines = [proc.stderr.readline(), proc.stderr.readline()]
        url = lines[1].strip().removeprefix("browser view: ")
        assert url.startswith("http://127.0.0.1:"), lines
        began = time.monotonic()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1100, "height": 560})
                page.goto(url)
                assert page.title() == "video seven.mp4 - cnnedge"
                # The reading appears, from /reading polled by the page's script...
                page.wait_for_function(
                    "document.getElementById('reading').textContent === '7'", timeout=15_000
                )
                # ... and the <img> plays the MJPEG stream: frames decoded at full size.
                page.wait_for_function(
                    "document.getElementById('video').naturalWidth === 640", timeout=10_000
                )
                assert page.inner_text("#confidence").startswith("confidence ")
                assert page.inner_text("#confidence").endswith("%")
                assert page.inner_text("#recent li b") == "7"
                assert float(page.inner_text("#fps")) > 0
                assert page.inner_text("#status") == "live"
                page.wait_for_timeout(700)  # a few more frames: the screenshot shows the 7
                shot = Path(os.environ.get("CNNEDGE_SCREENSHOT") or tmp_path / "page.png")
                page.screenshot(path=str(shot))
            finally:
                browser.close()
        print(f"browser test: Chromium saw the reading in {time.monotonic() - began:.1f} s")
        proc.send_signal(signal.SIGTERM)  # as systemctl stop does; the rest of the clip is moot
        out, err = proc.communicate(timeout=30)
    assert "Traceback" not in err
    # Terminated, as a service is stopped: 128 + 15 (or, on a very slow machine, the clip ended
    # first and the exit is 0).
    assert ("stopped: terminated" in err and proc.returncode == 143) or (
        "stopped: end of video" in err and proc.returncode == 0
    ), (proc.returncode, err)
    assert [json.loads(line)["digit"] for line in out.splitlines()][:2] == [None, 7]
