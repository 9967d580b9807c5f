"""The stop-word demo in Chromium: the fake microphone says "Okay computer, what time is it in Tokyo?".

A module of its own: Playwright's sync API allows one running instance, and this test needs a
browser with a different fake-microphone file than test_browser_reply's.
"""

from __future__ import annotations

from browser import chromium
from speech import DATA
from test_browser import PEAK_JS
from test_browser_reply import demo_server

#: Records when the widget first shows the stop-word highlight (the `stopword` message arrived).
STOPWORD_WATCH_JS = """() => {
    window.__stopword = null;
    new MutationObserver(() => {
        if (window.__stopword === null && document.querySelector('.gwr-root.gwr-stopword')) {
            window.__stopword = performance.now();
        }
    }).observe(document.body, {attributes: true, subtree: true, attributeFilter: ['class']});
}"""


def test_stop_word_demo_highlights_and_answers():
    """The seed's stop-word example: "Okay computer, what time is it in Tokyo?" from the fake mic."""
    with chromium(audio_file=DATA / "stop_word.wav") as browser, demo_server("gradio5", "stop_words/app.py") as url:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(url)
            page.wait_for_selector("[data-testid=webrtc] .gwr-button", timeout=30000)
            page.evaluate(STOPWORD_WATCH_JS)
            page.click("[data-testid=webrtc] .gwr-button")
            page.wait_for_selector("[data-testid=webrtc][data-state=connected]", timeout=20000)
            page.wait_for_function("window.__stopword !== null", timeout=30000)
            # The chime (523/659/784 Hz) answers the request that followed the stop word.
            peak, _ = page.evaluate(PEAK_JS, ["[data-testid=webrtc] audio.gwr-remote-audio", 4000])
            assert peak > 0.01, "the reply is heard"
        finally:
            context.close()
