"""What a handler may yield besides media, and the messages it may push to the user's page."""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ._engine import Session
    from .protocol import Protocol as PageProtocol

logger = logging.getLogger("gradio_webrtc")


class MessageSink(Protocol):
    """Anything that can carry a text message to the browser (the session's data channel)."""

    def send(self, message: str) -> None: ...


@runtime_checkable
class EventSink(MessageSink, Protocol):
    """A message sink that also words the page's events itself (a session's channel: the engine
    encodes each event for the page it talks to)."""

    def send_event(self, kind: str, text: str | None = None) -> None: ...


class SessionChannel:
    """The data channel of a session, shaped like the original's (`send(text)`); page events are
    worded by the engine as the session's page reads them (gradio_webrtc 0.0.31's plain `tick`,
    `change`, `stopword`, or fastrtc's JSON)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def protocol(self) -> PageProtocol:
        """How the page reads its events (the session's `SessionConfig.protocol`)."""
        return self._session.protocol

    def send(self, message: str) -> None:
        self._session.send_message(message)

    def send_event(self, kind: str, text: str | None = None) -> None:
        """Sends a page event (`_engine.PAGE_EVENTS`), worded by the engine for this page."""
        self._session.send_event(kind, text)

    @property
    def readyState(self) -> str:  # noqa: N802 - the browser/aiortc attribute name
        return "closed" if self._session.closed else "open"


def send_event(sink: MessageSink, kind: str, text: str | None = None) -> None:
    """Sends the page event `kind` through `sink`: worded by the engine where the sink is a
    session's, else as the JSON every page reads (a stand-in channel of a test)."""
    if isinstance(sink, EventSink):
        sink.send_event(kind, text)
    else:
        sink.send(json.dumps({"type": kind, "message": text}))


#: The data channel of the connection whose handler code is running in this thread or task.
#: Set by the session runner before any handler method runs, so `WebRTCError` and `Warning` raised
#: anywhere in handler code reach the right browser tab.
current_channel: ContextVar[MessageSink | None] = ContextVar("current_channel", default=None)


class AdditionalOutputs:
    """Values for other Gradio components, yielded by a handler next to (or instead of) media.

    Each instance is delivered, in order, to the function registered with
    `WebRTC.on_additional_outputs`, which receives `*args`.
    """

    def __init__(self, *args: Any) -> None:
        self.args = args

    def __repr__(self) -> str:
        return f"AdditionalOutputs{self.args!r}"


class CloseStream:
    """Yielded or returned by a handler: ends the stream. The page is told (`end_stream` with
    `msg`), the audio already sent plays out, then the session closes with `msg` as its reason.

    `yield CloseStream("Goodbye!")` after a farewell line, as in fastrtc.
    """

    def __init__(self, msg: str = "Stream closed") -> None:
        self.msg = msg

    def __repr__(self) -> str:
        return f"CloseStream({self.msg!r})"


def _push(kind: str, message: str) -> bool:
    channel = current_channel.get()
    if channel is None:
        return False
    try:
        send_event(channel, kind, message)
    except Exception:  # a closed channel must not turn a warning into a crash
        logger.debug("could not deliver %s message", kind, exc_info=True)
        return False
    return True


class WebRTCError(Exception):
    """An error shown to the user: raising it sends an error toast to the connection's page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        _push("error", message)


def Warning(message: str = "Warning issued.") -> None:  # noqa: A001, N802 - the original's public name
    """Shows a warning toast on the connection's page; execution continues."""
    _push("warning", message)


def report_error(sink: MessageSink | None, message: str) -> None:
    """Sends an error message to `sink` (if any), swallowing delivery failures."""
    if sink is None:
        return
    try:
        send_event(sink, "error", message)
    except Exception:
        logger.debug("could not deliver error message", exc_info=True)


def split_output(item: Any) -> tuple[Any, AdditionalOutputs | CloseStream | None]:
    """Splits a yielded item into `(media, extra)`: `extra` is the `AdditionalOutputs` or
    `CloseStream` that came with (or instead of) the media; either may be None."""
    if isinstance(item, (AdditionalOutputs, CloseStream)):
        return None, item
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], (AdditionalOutputs, CloseStream)):
        return item[0], item[1]
    return item, None
