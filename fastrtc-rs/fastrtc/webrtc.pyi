"""`fastrtc.webrtc`: the `WebRTC` component with fastrtc 0.0.34's arguments, order and defaults.

Its connections speak fastrtc's JSON page events (`{"type": "send_input", "data": []}`, ...), and
its video asks the camera for 1280x720 unless `full_screen=False`. It is the same component as
`gradio_webrtc.WebRTC` on the page (one frontend reads both protocols).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from gradio.components import Component

from gradio_webrtc import webrtc as _core

class WebRTC(_core.WebRTC):
    PROTOCOL = "fastrtc"

    def __init__(
        self,
        value: Any = None,
        height: int | str | None = None,
        width: int | str | None = None,
        label: str | None = None,
        every: float | None = None,
        inputs: Component | Sequence[Component] | set[Component] | None = None,
        show_label: bool | None = None,
        container: bool = True,
        scale: int | None = None,
        min_width: int = 160,
        interactive: bool | None = None,
        visible: bool = True,
        elem_id: str | None = None,
        elem_classes: list[str] | str | None = None,
        render: bool = True,
        key: int | str | None = None,
        mirror_webcam: bool = True,
        rtc_configuration: dict[str, Any] | Callable[[], Any] | None = None,
        server_rtc_configuration: dict[str, Any] | Callable[[], Any] | None = None,
        track_constraints: dict[str, Any] | None = None,
        time_limit: float | None = None,
        allow_extra_tracks: bool = False,
        mode: Literal["send-receive", "receive", "send"] = "send-receive",
        modality: Literal["video", "audio", "audio-video"] = "video",
        rtp_params: dict[str, Any] | None = None,
        icon: str | None = None,
        icon_button_color: str | None = None,
        pulse_color: str | None = None,
        icon_radius: int | None = None,
        button_labels: dict[str, str] | None = None,
        variant: Literal["textbox", "wave"] = "wave",
        full_screen: bool | None = True,
    ) -> None:
        # fastrtc ignores `value` (the component manages it); so does this one.
        super().__init__(
            None,
            height,
            width,
            label,
            every,
            inputs,
            show_label,
            container,
            scale,
            min_width,
            interactive,
            visible,
            elem_id,
            elem_classes,
            render,
            key,
            mirror_webcam,
            rtc_configuration,
            track_constraints,
            time_limit,
            mode,
            modality,
            rtp_params,
            icon,
            icon_button_color,
            pulse_color,
            button_labels,
            server_rtc_configuration,
            icon_radius=icon_radius,
            variant=variant,
            full_screen=True if full_screen is None else full_screen,
            allow_extra_tracks=allow_extra_tracks,
        )
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component

# Gradio finds a component's frontend next to the module its class is defined in; this class
# has no frontend of its own: it is gradio_webrtc's component, with fastrtc's signature.
WebRTC.__module__ = _core.__name__
