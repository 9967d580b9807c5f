/** Events and props of the WebRTC component; event names equal the Python `WebRTC.EVENTS` (+ toasts). */

import type { WidgetProps, WidgetValue } from "./shared/widget";

export interface WebRTCEvents {
	tick: never;
	state_change: never;
	submit: never;
	start_recording: never;
	stop_recording: never;
	error: string;
	warning: string;
	clear_status: unknown;
}

/** The component's own props: the widget's, less the label ones Gradio passes as shared props. */
export type WebRTCProps = Omit<WidgetProps, "label" | "show_label"> & { value: WidgetValue | null };
