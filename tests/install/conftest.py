"""Fixtures for the install tests: the built wheel and sdist, and fresh venvs with the wheel."""

from __future__ import annotations

from pathlib import Path

import pytest
from installing import GRADIO, built, make_venv


@pytest.fixture(scope="session")
def wheel() -> Path:
    return built("gradio_webrtc_rs-*.whl")


@pytest.fixture(scope="session")
def fastrtc_wheel() -> Path:
    return built("fastrtc_rs-*.whl")


@pytest.fixture(scope="session")
def sdist() -> Path:
    return built("gradio_webrtc_rs-*.tar.gz")


@pytest.fixture(scope="session")
def venvs(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> dict[str, Path]:
    """One fresh venv per Gradio major with the wheel installed, created on first use."""

    class Lazy(dict):
        def __missing__(self, major: str) -> Path:
            self[major] = make_venv(tmp_path_factory.mktemp(f"venv-{major}"), str(wheel), GRADIO[major])
            return self[major]

    return Lazy()
