/** Events and props of the WebRTC component; event names equal the Python `WebRTC.EVENTS` (+ toasts). */

import type { ButtonLabels } from "./shared/widget";
import type { Modality, Mode } from "./shared/protocol";

export interface WebRTCEvents {
	tick: never;
	state_change: never;
	error: string;
	warning: string;
	clear_status: unknown;
}

export interface WebRTCProps {
	value: string | null;
	mode: Mode;
	modality: Modality;
	height: number | string | null;
	width: number | string | null;
	mirror_webcam: boolean;
	rtc_configuration: RTCConfiguration | null;
	track_constraints: Record<string, unknown> | null;
	time_limit: number | null;
	rtp_params: Record<string, unknown> | null;
	icon: string | null;
	icon_button_color: string | null;
	pulse_color: string | null;
	button_labels: ButtonLabels;
}
