"""The wheel and the sdist as users install them: fresh venvs, apps copied out of the checkout.

* the wheel is abi3, manylinux_2_28 or older, needs no system library beyond the manylinux set, and
  carries both frontend bundles;
* the main demo, run from a fresh venv on Gradio 5 and on Gradio 6, renders in Chromium and answers
  a spoken sentence;
* the Hugging Face Space kit (deploy/spaces) relays through TURN (a local coturn) with credentials
  from a local stand-in of the provider, as on Spaces, where nothing reaches the server over UDP;
* `pip install <sdist>` builds the engine without Node and serves the page;
* the `turn` extra runs the end-of-turn model compiled into the engine.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from installing import DIST, GRADIO, ROOT, make_venv, serve
from speech import DATA
from test_browser import PEAK_JS
from test_credentials import Providers

#: Fresh venvs install Gradio from PyPI and the sdist compiles the engine: minutes, not seconds.
pytestmark = pytest.mark.timeout(1200)

WIDGET = "[data-testid=webrtc]"
BUNDLES = [f"gradio_webrtc/templates/gradio{major}/component/index.js" for major in (5, 6)]

#: Remembers the page's peer connections, to read the selected ICE candidate pair.
PC_PROBE = """
(() => {
    const Native = window.RTCPeerConnection;
    window.__pcs = [];
    window.RTCPeerConnection = class extends Native {
        constructor(...args) { super(...args); window.__pcs.push(this); }
    };
})();
"""

#: The candidate types of the selected pair of the page's first peer connection: [local, remote].
PAIR_JS = """async () => {
    const stats = await window.__pcs[0].getStats();
    let pair = null;
    stats.forEach((s) => {
        if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    if (!pair) {
        stats.forEach((s) => {
            if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s;
        });
    }
    if (!pair) return null;
    return [stats.get(pair.localCandidateId).candidateType, stats.get(pair.remoteCandidateId).candidateType];
}"""


def test_the_wheel_is_manylinux_2_28_and_self_contained(wheel):
    assert "-abi3-" in wheel.name, wheel.name
    tag = re.search(r"manylinux_(\d+)_(\d+)_x86_64", wheel.name)
    assert tag and (int(tag[1]), int(tag[2])) <= (2, 28), f"{wheel.name}: must run on glibc 2.28 (Ubuntu 20.04, RHEL 8)"
    shown = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", str(wheel)], capture_output=True, text=True, check=True
    ).stdout
    print(shown)
    found = re.search(r'following platform tag:\s*"manylinux_(\d+)_(\d+)_x86_64"', shown)
    assert found and (int(found[1]), int(found[2])) <= (2, 28), shown
    assert "libvpx" not in shown and "libopus" not in shown, "codecs are linked in, not loaded from the system"
    names = zipfile.ZipFile(wheel).namelist()
    for bundle in BUNDLES:
        assert bundle in names, f"{bundle} is missing from the wheel"
    assert "gradio_webrtc/_engine.abi3.so" in names


def test_the_sdist_carries_the_built_frontend_and_the_sources(sdist):
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    for needed in [*BUNDLES, "Cargo.lock", "LICENSE", "rust/media/assets/silero_vad_v6_16k.bin", "pyproject.toml"]:
        assert needed in names, f"{needed} is missing from the sdist"


def answers_a_spoken_sentence(page: Any, url: str) -> None:
    """Opens the main demo's page, presses Record; the parrot's reply is heard and logged."""
    page.goto(url)
    page.wait_for_selector(f"{WIDGET} .gwr-button", timeout=30000)
    page.click(f"{WIDGET} .gwr-button")
    page.wait_for_selector(f"{WIDGET}[data-state=connected]", timeout=30000)
    page.get_by_text("Squawk!").first.wait_for(timeout=30000)
    peak, _ = page.evaluate(PEAK_JS, [f"{WIDGET} audio.gwr-remote-audio", 3000])
    assert peak > 0.01, "the parrot's reply is heard"


@pytest.mark.parametrize("major", ["gradio5", "gradio6"])
def test_the_main_demo_from_a_fresh_venv_answers_in_chromium(venvs, major, tmp_path):
    python = venvs[major]
    where = subprocess.run(
        [str(python), "-c", "import gradio, gradio_webrtc; print(gradio_webrtc.__file__, gradio.__version__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": ""},
    ).stdout
    assert str(python.parent.parent) in where and str(ROOT) not in where, where
    app = tmp_path / "app.py"
    shutil.copy(ROOT / "demo" / "app.py", app)
    with serve(python, app) as url, chromium(audio_file=DATA / "one_sentence.wav") as browser:
        page = browser.new_page()
        answers_a_spoken_sentence(page, url)
        page.screenshot(path=str(tmp_path / "main-demo.png"))


def test_the_space_kit_relays_through_turn(venvs, coturn, tmp_path):
    """deploy/spaces as pushed: HF_TOKEN set, credentials from the provider, both peers via TURN."""
    providers = Providers(coturn)
    try:
        space = tmp_path / "space"
        shutil.copytree(ROOT / "deploy" / "spaces", space)
        env = {"HF_TOKEN": "hf_ok", "GRADIO_WEBRTC_HF_TURN_URL": f"{providers.base}/hf/credentials"}
        with (
            serve(venvs["gradio5"], space / "app.py", env) as url,
            chromium(audio_file=DATA / "one_sentence.wav") as browser,
        ):
            page = browser.new_page()
            page.add_init_script(PC_PROBE)
            answers_a_spoken_sentence(page, url)
            local, remote = page.evaluate(PAIR_JS)
        assert remote == "relay", f"the server's side of the pair is {remote}: it must relay (no inbound UDP)"
        fetched = [r for r in providers.requests if r[1].startswith("/hf/credentials")]
        assert len(fetched) >= 2, "fresh credentials for the page and for the server's peer"
        assert all(r[2]["Authorization"] == "Bearer hf_ok" for r in fetched)
        print("selected pair (browser, server):", local, remote)
    finally:
        providers.http.shutdown()
        providers.http.server_close()


def forget_our_crates(target: Path) -> None:
    for profile in target.glob("*/"):
        for place in ("deps", ".fingerprint", "build"):
            for item in (profile / place).glob("*"):
                if item.name.startswith(("gradio-webrtc", "gradio_webrtc", "_engine", "lib_engine")):
                    shutil.rmtree(item) if item.is_dir() else item.unlink()


def test_the_sdist_installs_without_node_and_serves_the_page(sdist, tmp_path):
    # Node stand-ins first on PATH: they record any call, so a build that needed Node fails here.
    trap = tmp_path / "no-node"
    trap.mkdir()
    called = tmp_path / "node-was-called"
    for tool in ("node", "npm", "npx"):
        script = trap / tool
        script.write_text(f'#!/bin/sh\necho {tool} "$@" >> {called}\nexit 127\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    # A target directory of its own, kept between runs for the third-party crates. Ours are
    # forgotten first: an sdist's files carry a fixed old mtime, so cargo would take the artifacts
    # of an earlier build of other sources for fresh.
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "sdist"
    forget_our_crates(target)
    env = {**os.environ, "PATH": f"{trap}:{os.environ['PATH']}", "CARGO_TARGET_DIR": str(target)}
    python = make_venv(tmp_path / "venv", str(sdist), GRADIO["gradio5"], env=env)
    assert not called.exists(), f"the source build ran Node: {called.read_text()}"
    app = tmp_path / "app.py"
    app.write_text(
        "import gradio as gr\n"
        "from gradio_webrtc import ReplyOnPause, WebRTC\n"
        "def reply(audio):\n"
        "    yield audio\n"
        "with gr.Blocks() as demo:\n"
        "    audio = WebRTC(mode='send-receive', modality='audio')\n"
        "    audio.stream(ReplyOnPause(reply), inputs=[audio], outputs=[audio])\n"
        "demo.launch()\n"
    )
    with serve(python, app) as url, chromium() as browser:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector(f"{WIDGET} .gwr-button", timeout=30000)
        assert page.inner_text(f"{WIDGET} .gwr-status") == "Ready"


def test_without_its_bundle_the_component_says_so(venvs, tmp_path):
    """An install missing the frontend fails at import with a message, not a page stuck on "Loading..."."""
    python = venvs["gradio5"]
    package = Path(
        subprocess.run(
            [str(python), "-c", "import gradio_webrtc, os; print(os.path.dirname(gradio_webrtc.__file__))"],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        ).stdout.strip()
    )
    moved = package / "templates" / "gradio5.moved"
    (package / "templates" / "gradio5").rename(moved)
    try:
        result = subprocess.run(
            [str(python), "-c", "import gradio_webrtc"], capture_output=True, text=True, cwd=tmp_path
        )
    finally:
        moved.rename(package / "templates" / "gradio5")
    assert result.returncode != 0
    assert "frontend for Gradio 5" in result.stderr and "Loading..." in result.stderr, result.stderr


def test_dist_holds_the_two_wheels_and_one_sdist():
    assert len(list(DIST.glob("gradio_webrtc_rs-*.whl"))) == 1, list(DIST.iterdir())
    assert len(list(DIST.glob("fastrtc_rs-*.whl"))) == 1, list(DIST.iterdir())
    assert len(list(DIST.glob("*.tar.gz"))) == 1, list(DIST.iterdir())


def test_a_fastrtc_app_runs_unchanged_on_the_installed_wheels(wheel, fastrtc_wheel, tmp_path):
    """`pip install fastrtc-rs` (with the engine's wheel beside it, as PyPI would resolve it) in a
    fresh venv: `import fastrtc` is this package's, and a fastrtc app answers a spoken sentence."""
    import asyncio

    from gradio_webrtc.testing import connect

    python = make_venv(tmp_path / "venv", str(wheel), str(fastrtc_wheel), GRADIO["gradio5"])
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import fastrtc, inspect; "
            "print(fastrtc.__file__, list(inspect.signature(fastrtc.ReplyOnPause).parameters)[:2])",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": ""},
    ).stdout
    assert str(tmp_path / "venv") in where and "['fn', 'startup_fn']" in where, where
    metadata = (
        zipfile.ZipFile(fastrtc_wheel)
        .read(next(n for n in zipfile.ZipFile(fastrtc_wheel).namelist() if n.endswith(".dist-info/METADATA")))
        .decode()
    )
    assert "Requires-Dist: gradio-webrtc-rs==" in metadata
    for extra in ("vad", "stt", "tts", "stopword"):
        assert f"Provides-Extra: {extra}" in metadata
    app = tmp_path / "fastrtc_app.py"
    shutil.copy(ROOT / "tests" / "apps" / "fastrtc_app.py", app)
    app.write_text(
        app.read_text().replace("server_port=int(sys.argv[1])", "server_port=int(__import__('os').environ['PORT'])")
    )

    async def echo(url: str) -> float:
        async with connect(url, "echo") as call:
            await call.say(DATA / "one_sentence.wav")
            return (await call.reply(timeout=30)).duration

    with serve(python, app) as url:
        assert 1.0 < asyncio.run(echo(url)) < 4.0


def test_extras_keep_their_names(wheel):
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
    )
    text = metadata.decode()
    assert "Name: gradio-webrtc-rs" in text
    for extra in ("vad", "stopword", "turn"):
        assert f"Provides-Extra: {extra}" in text


def test_the_turn_extra_runs_the_bundled_end_of_turn_model(venvs, wheel, tmp_path):
    """`pip install gradio-webrtc-rs[turn]` brings ONNX Runtime's library; the model inside the
    wheel's engine scores a finished and a cut request as the reference does."""
    python = venvs["gradio6"]
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{wheel}[turn]"],
        check=True,
        timeout=900,
    )
    script = tmp_path / "score.py"
    script.write_text(
        "import sys, wave\n"
        "import numpy as np\n"
        "from gradio_webrtc import SmartTurn\n"
        "for line in open(sys.argv[1]).read().splitlines()[1:]:\n"
        "    name, cut, expected = line.split('\\t')\n"
        "    with wave.open(f'{sys.argv[2]}/{name}.wav') as w:\n"
        "        audio = np.frombuffer(w.readframes(w.getnframes()), np.int16)\n"
        "    audio = audio[: int(audio.size * float(cut))]\n"
        "    print(name, cut, abs(SmartTurn()((16000, audio)) - float(expected)))\n"
    )
    out = subprocess.run(
        [str(python), str(script), str(ROOT / "tests/data/smart_turn/probabilities.tsv"), str(DATA)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
        timeout=300,
        check=True,
    ).stdout
    diffs = [float(line.split()[-1]) for line in out.splitlines()]
    assert len(diffs) >= 4 and max(diffs) <= 1e-3, out
