"""What a handler emitted, checked before it reaches the engine: its shape as an output item, audio
cut into pieces the output queue can take, and descriptions of wrong items for the page."""

from __future__ import annotations

from typing import Any

import numpy as np

from .outputs import AdditionalOutputs


class OutputError(TypeError):
    """What a handler emitted cannot be sent (its type, shape, dtype or rate). The message describes
    the item, never its content, so the page is told whether or not the app shows errors."""


def is_single_item(value: Any) -> bool:
    """True for one output item given as a tuple: `(rate, array)` or `(media, AdditionalOutputs)`."""
    if not isinstance(value, tuple):
        return False
    return (len(value) in (2, 3) and isinstance(value[0], (int, np.integer))) or (
        len(value) == 2 and isinstance(value[1], AdditionalOutputs)
    )


#: Emitted audio longer than this is queued in pieces of this length (see `deliver`).
MAX_PIECE_S = 1.0


def audio_pieces(rate: int, array: np.ndarray, layout: str | None) -> list[np.ndarray]:
    """`array` cut along its time axis into pieces of at most `MAX_PIECE_S` (views, no copies).

    The time axis follows the engine's shapes: `(N,)` and `(N, 1|2)` along axis 0, `(1|2, N)`
    along axis 1; packed stereo (`(N,)` with layout "stereo") is cut on sample pairs. Anything
    else is returned whole, for the engine to refuse with its message."""
    step = max(1, int(rate * MAX_PIECE_S))
    shape = array.shape
    if array.ndim == 1:
        axis, n = 0, shape[0]
        if layout == "stereo":
            step *= 2
    elif array.ndim == 2 and shape[0] in (1, 2) and shape[1] != 2:
        axis, n = 1, shape[1]
    elif array.ndim == 2 and shape[1] in (1, 2):
        axis, n = 0, shape[0]
    else:
        return [array]
    if n <= step:
        return [array]
    if axis == 0:
        return [array[i : i + step] for i in range(0, n, step)]
    return [array[:, i : i + step] for i in range(0, n, step)]


def describe(item: Any) -> str:
    """A short description of a wrongly typed item for error messages."""
    if isinstance(item, np.ndarray):
        return f"an array of shape {item.shape} and dtype {item.dtype}"
    if isinstance(item, tuple):
        return "a tuple of (" + ", ".join(type(x).__name__ for x in item) + ")"
    return f"a {type(item).__name__}"


def audio_item(media: Any) -> tuple[int, np.ndarray, str | None]:
    """`(rate, array, layout)` of an emitted audio item; `OutputError` for anything else."""
    if not (isinstance(media, tuple) and len(media) in (2, 3)):
        raise OutputError(
            f"the handler emitted {describe(media)}; expected (sample_rate, numpy array), "
            "optionally with a layout, and/or AdditionalOutputs"
        )
    rate, array, *rest = media
    layout = rest[0] if rest else None
    if not isinstance(array, np.ndarray):
        raise OutputError(f"the audio of an emitted item must be a numpy array, got {describe(array)}")
    if not isinstance(rate, (int, np.integer)):
        raise OutputError(f"the sample rate of an emitted item must be an int, got {describe(rate)}")
    return int(rate), array, layout
