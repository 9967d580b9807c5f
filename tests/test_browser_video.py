"""Video in headless Chromium: a fake camera fed from a .y4m file, on Gradio 5 and Gradio 6."""

from __future__ import annotations

import pytest
from browser import CAMERA_H as H
from browser import CAMERA_W as W
from test_browser import ARTIFACTS, wait_until_free, widget

PIXELS_JS = """([selector]) => {
    const video = document.querySelector(selector);
    if (!video || video.videoWidth === 0) return null;
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(video, 0, 0);
    const row = (y) => {
        const d = ctx.getImageData(0, Math.floor(y * canvas.height), canvas.width, 1).data;
        let sum = 0; for (let i = 0; i < d.length; i += 4) sum += d[i] + d[i + 1] + d[i + 2];
        return sum / (d.length / 4) / 3;
    };
    const col = (x) => {
        const d = ctx.getImageData(Math.floor(x * canvas.width), 0, 1, canvas.height).data;
        let g = 0, r = 0; for (let i = 0; i < d.length; i += 4) { r += d[i]; g += d[i + 1]; }
        return [r / (d.length / 4), g / (d.length / 4)];
    };
    return {w: canvas.width, h: canvas.height, top: row(0.05), bottom: row(0.95), mid: col(0.5)};
}"""


@pytest.fixture
def page(camera_browser, gradio_app, request):
    context = camera_browser.new_context()
    page = context.new_page()
    page.goto(gradio_app.url)
    page.wait_for_selector(f"{widget('flip')} .gwr-button", timeout=30000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{gradio_app.major}-{request.node.name.split('[')[0]}.png"), full_page=True)
    context.close()
    wait_until_free(gradio_app)


def test_processed_webcam_frames_are_shown(page):
    page.click(f"{widget('flip')} .gwr-button")
    page.wait_for_selector(f"{widget('flip')}[data-state=connected]", timeout=20000)
    selector = f"{widget('flip')} video.gwr-remote"
    page.wait_for_function(f"document.querySelector({selector!r}).videoWidth > 0", timeout=15000)
    page.wait_for_timeout(1000)
    px = page.evaluate(PIXELS_JS, [selector])
    assert (px["w"], px["h"]) == (W, H)
    # The camera has its white band on top; the server flipped it, so the page shows it at the bottom.
    assert px["bottom"] > 180 and px["top"] < 140, px
    # The processed stream takes the stage; the user's own picture is a picture-in-picture over it.
    assert page.is_visible(f"{widget('flip')} video.gwr-local.gwr-pip")


def test_receive_mode_video_plays(page):
    page.click("#play")
    page.wait_for_selector(f"{widget('movie')}[data-state=connected]", timeout=20000)
    selector = f"{widget('movie')} video.gwr-remote"
    page.wait_for_function(f"document.querySelector({selector!r}).videoWidth > 0", timeout=15000)
    page.wait_for_timeout(500)
    px = page.evaluate(PIXELS_JS, [selector])
    assert (px["w"], px["h"]) == (320, 240)
    assert (px["mid"][1] > 100 and px["mid"][0] < 120) or px["mid"][0] > 200, px  # green, or the white bar
    # 90 frames at <= 30 fps: the server ends the stream after ~3 s.
    page.wait_for_selector(f"{widget('movie')}[data-state=closed]", timeout=15000)
