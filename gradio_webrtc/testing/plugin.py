"""The pytest plugin of `gradio_webrtc.testing` (registered as the `gradio_webrtc` pytest11 entry
point): a `webrtc_call` fixture that opens calls and closes every one of them at teardown.

    async def test_the_parrot_answers(webrtc_call):
        call = await webrtc_call(demo, component="Conversation")
        await call.say("question.wav")
        assert (await call.reply(timeout=10)).duration > 0.5

Async tests need an asyncio plugin (pytest-asyncio or anyio's); the fixture is async.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from . import Call, connect

try:
    import pytest_asyncio

    _fixture: Any = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - depends on the environment
    _fixture = pytest.fixture


def pytest_configure(config: pytest.Config) -> None:
    """In a test run SIGTERM means "stop now", for pytest and the apps it starts: no replica
    drain (`gradio_webrtc.replica`), unless the run asks for one."""
    os.environ.setdefault("GRADIO_WEBRTC_DRAIN_ON_SIGTERM", "0")


@_fixture
async def webrtc_call() -> AsyncIterator[Callable[..., Awaitable[Call]]]:
    """A factory: `await webrtc_call(app_or_url, component=None, inputs=None, ice=None)` -> `Call`."""
    async with contextlib.AsyncExitStack() as stack:

        async def open_call(app_or_url: Any, component: Any = None, **kwargs: Any) -> Call:
            return await stack.enter_async_context(connect(app_or_url, component, **kwargs))

        yield open_call
