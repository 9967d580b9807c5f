"""The widget as users see it, in Chromium on Gradio 5 and 6, desktop and a 390x844 phone viewport:
the video states (placeholder or preview, the picture-in-picture while streaming, the preview
again after Stop), everything inside the widget on a phone, no layout shift between states, the
same colours for the same state, Gradio's label badge, the textbox variant and `icon_radius`, and
an honest message when a call loses its server. Each state's screenshot is kept in
test-artifacts/ (the README's pictures come from there)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from test_browser import ARTIFACTS, wait_until_free, widget

PHONE = {"width": 390, "height": 844}
APP = Path(__file__).parent / "apps" / "component_app.py"

BOX_JS = """(selector) => {
    const r = document.querySelector(selector).getBoundingClientRect();
    return {x: r.x, y: r.y, w: r.width, h: r.height};
}"""

# Every visible element of a widget, as boxes, beside the widget's own box.
INSIDE_JS = """(selector) => {
    const root = document.querySelector(selector);
    const box = root.getBoundingClientRect();
    const out = [];
    for (const node of root.querySelectorAll('*')) {
        const r = node.getBoundingClientRect();
        if (r.width === 0 || r.height === 0 || getComputedStyle(node).visibility === 'hidden') continue;
        if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1) {
            const at = [r.left, r.right, r.top, r.bottom].map(Math.round).join(',');
            out.push(`${node.className}: ${at}`);
        }
    }
    return {outside: out, left: box.left, right: box.right};
}"""


def open_page(browser: Any, app: Any, viewport: dict[str, int] | None = None) -> Any:
    context = browser.new_context(viewport=viewport) if viewport else browser.new_context()
    page = context.new_page()
    page.goto(app.url)
    page.wait_for_selector(f"{widget('flip')} .gwr-button", timeout=30000)
    return page


def shot(page: Any, app: Any, name: str, selector: str | None = None) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = str(ARTIFACTS / f"{app.major}-widget-{name}.png")
    if selector is None:
        page.screenshot(path=path)
    else:
        page.locator(selector).screenshot(path=path)


def close(page: Any, app: Any) -> None:
    page.context.close()
    wait_until_free(app)


def picture(page: Any, elem_id: str) -> str | None:
    return page.get_attribute(widget(elem_id), "data-picture")


def playing(page: Any, selector: str) -> bool:
    js = "(s) => { const v = document.querySelector(s); return !!v && v.videoWidth > 0; }"
    return bool(page.evaluate(js, selector))


def test_video_shows_a_preview_before_during_and_after_streaming(camera_browser, gradio_app):
    page = open_page(camera_browser, gradio_app)
    flip = widget("flip")
    page.locator(flip).scroll_into_view_if_needed()
    page.wait_for_timeout(2000)  # where the camera is already allowed, the preview starts by itself
    if picture(page, "flip") == "none":  # the camera was not allowed yet: a placeholder with its button
        assert page.is_visible(f"{flip} .gwr-placeholder")
        assert "camera is off" in page.inner_text(f"{flip} .gwr-placeholder")
        shot(page, gradio_app, "video-placeholder", flip)
        page.click(f"{flip} .gwr-camera")
    page.wait_for_function(f"document.querySelector({flip!r}).dataset.picture === 'preview'", timeout=15000)
    page.wait_for_function(f"document.querySelector('{flip} video.gwr-local').videoWidth > 0", timeout=15000)
    assert page.is_hidden(f"{flip} .gwr-placeholder")
    shot(page, gradio_app, "video-preview", flip)

    page.click(f"{flip} .gwr-button")
    page.wait_for_selector(f"{flip}[data-state=connected]", timeout=20000)
    page.wait_for_function(f"document.querySelector('{flip} video.gwr-remote').videoWidth > 0", timeout=15000)
    assert picture(page, "flip") == "remote"
    # The user's own picture as a picture-in-picture over the processed one, inside the stage.
    assert page.is_visible(f"{flip} video.gwr-local.gwr-pip") and playing(page, f"{flip} video.gwr-local")
    stage, pip = page.evaluate(BOX_JS, f"{flip} .gwr-stage"), page.evaluate(BOX_JS, f"{flip} video.gwr-pip")
    assert stage["x"] <= pip["x"] and pip["x"] + pip["w"] <= stage["x"] + stage["w"] + 1
    assert pip["w"] < stage["w"] / 2
    page.wait_for_timeout(500)
    shot(page, gradio_app, "video-streaming", flip)

    page.click(f"{flip} .gwr-button")
    page.wait_for_selector(f"{flip}[data-state=closed]", timeout=10000)
    # Back to the live preview: no frozen remote frame, no black strip.
    page.wait_for_function(f"document.querySelector({flip!r}).dataset.picture === 'preview'", timeout=15000)
    assert page.is_hidden(f"{flip} video.gwr-remote")
    page.wait_for_function(f"document.querySelector('{flip} video.gwr-local').videoWidth > 0", timeout=15000)
    assert "gwr-pip" not in (page.get_attribute(f"{flip} video.gwr-local", "class") or "")
    shot(page, gradio_app, "video-stopped", flip)
    close(page, gradio_app)


def test_on_a_phone_everything_stays_inside_the_widget(camera_browser, gradio_app):
    page = open_page(camera_browser, gradio_app, PHONE)
    flip, echo = widget("flip"), widget("echo")
    page.locator(flip).scroll_into_view_if_needed()
    page.click(f"{flip} .gwr-button")
    page.wait_for_selector(f"{flip}[data-state=connected]", timeout=20000)
    page.wait_for_function(f"document.querySelector('{flip} video.gwr-remote').videoWidth > 0", timeout=15000)
    inside = page.evaluate(INSIDE_JS, flip)
    assert inside["outside"] == [], inside
    assert inside["right"] <= PHONE["width"], "the widget fits the phone's width"
    # The stage fits the viewport: the widget's top and its Stop button are in view together.
    page.evaluate(f"document.querySelector({flip!r}).scrollIntoView({{block: 'start'}})")
    stop = page.evaluate(BOX_JS, f"{flip} .gwr-button")
    assert stop["y"] + stop["h"] <= PHONE["height"], stop
    shot(page, gradio_app, "phone-video-streaming")
    page.click(f"{flip} .gwr-button")
    page.wait_for_selector(f"{flip}[data-state=closed]", timeout=10000)

    # Audio: starting a stream neither grows the widget nor wraps its controls.
    page.locator(echo).scroll_into_view_if_needed()
    idle = page.evaluate(BOX_JS, echo)
    page.click(f"{echo} .gwr-button")
    page.wait_for_selector(f"{echo}[data-state=connected]", timeout=20000)
    page.wait_for_selector(f"{echo} .gwr-mute:not([hidden])", timeout=5000)
    streaming = page.evaluate(BOX_JS, echo)
    assert abs(streaming["h"] - idle["h"]) <= 1, (idle, streaming)
    tops = page.evaluate(
        f"""[...document.querySelectorAll('{echo} .gwr-controls > *')]
            .map((n) => n.getBoundingClientRect()).filter((r) => r.height > 0).map((r) => Math.round(r.top))"""
    )
    assert len(set(tops)) == 1, f"the controls stay on one row: {tops}"
    assert page.evaluate(INSIDE_JS, echo)["outside"] == []
    shot(page, gradio_app, "phone-audio-streaming", echo)
    close(page, gradio_app)


def test_states_keep_their_layout_colours_and_label(camera_browser, gradio_app):
    page = open_page(camera_browser, gradio_app)
    echo = widget("echo")
    colour = f"getComputedStyle(document.querySelector('{echo} .gwr-bar')).backgroundColor"
    on_load = page.evaluate(colour)
    controls = page.evaluate(BOX_JS, f"{echo} .gwr-controls")
    shot(page, gradio_app, "audio-idle", echo)
    page.click(f"{echo} .gwr-button")
    page.wait_for_selector(f"{echo}[data-state=connected]", timeout=20000)
    assert page.evaluate(BOX_JS, f"{echo} .gwr-controls")["y"] == controls["y"], "no shift when streaming starts"
    page.wait_for_timeout(1500)  # the microphone moves the bars (and may colour them as the user's)
    shot(page, gradio_app, "audio-streaming", echo)
    page.click(f"{echo} .gwr-button")
    page.wait_for_selector(f"{echo}[data-state=closed]", timeout=10000)
    page.wait_for_timeout(200)
    assert page.evaluate(colour) == on_load, "idle bars look the same after a stop as on load"
    assert page.evaluate(BOX_JS, f"{echo} .gwr-controls")["y"] == controls["y"]
    # The label is a badge like every Gradio block's, not plain text.
    badge = page.evaluate(
        f"""(() => {{ const s = getComputedStyle(document.querySelector('{echo} .gwr-label'));
            return [s.borderTopStyle, parseFloat(s.borderTopWidth), parseFloat(s.paddingLeft)]; }})()"""
    )
    assert badge[0] == "solid" and badge[1] > 0 and badge[2] > 0, badge
    close(page, gradio_app)


def test_the_textbox_variant_sends_text_and_icon_radius_applies(camera_browser, gradio_app):
    page = open_page(camera_browser, gradio_app)
    typed = widget("typed")
    page.locator(typed).scroll_into_view_if_needed()
    assert page.is_visible(f"{typed} .gwr-text-input")
    radius = page.evaluate(f"getComputedStyle(document.querySelector('{typed} .gwr-icon')).borderTopLeftRadius")
    assert radius == "20%", radius
    page.click(f"{typed} .gwr-button")
    page.wait_for_selector(f"{typed}[data-state=connected]", timeout=20000)
    page.fill(f"{typed} .gwr-text-input", "hello there")
    page.press(f"{typed} .gwr-text-input", "Enter")
    page.wait_for_function(
        "document.querySelector('#typed-out textarea').value === 'typed: hello there'", timeout=15000
    )
    assert page.input_value(f"{typed} .gwr-text-input") == "", "the box is cleared once sent"
    shot(page, gradio_app, "textbox", typed)
    close(page, gradio_app)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_call_that_loses_its_server_says_so(camera_browser, tmp_path):
    """The server process dies mid-call: the page says the connection to the server was lost
    (not the TURN hint of a negotiation that never connected), long before the browser's own
    verdict (~30 s); the time it took is printed."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(APP), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "Running on local URL" in line:
                break
        page = camera_browser.new_context().new_page()
        page.goto(f"http://127.0.0.1:{port}")
        echo = widget("echo")
        page.wait_for_selector(f"{echo} .gwr-button", timeout=30000)
        page.click(f"{echo} .gwr-button")
        page.wait_for_selector(f"{echo}[data-state=connected]", timeout=20000)
        page.wait_for_timeout(1000)
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        page.wait_for_selector(f"{echo}[data-state=failed]", timeout=15000)
        print(f"lost server reported after {time.monotonic() - killed:.1f} s")
        error = page.inner_text(f"{echo} .gwr-error")
        assert "connection to the server was lost" in error, error
        assert "TURN" not in error
        page.context.close()
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
