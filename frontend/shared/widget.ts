/**
 * The component's UI, in plain DOM so that the Svelte 4 (Gradio 5) and Svelte 5 (Gradio 6) entry
 * points both mount the same code. One widget per component instance; it owns one WebRTCClient.
 *
 * States shown to the user: idle → asking for devices → connecting → streaming → stopped/failed,
 * with the reason (time limit, server error, refused offer, ICE failure) written in the widget and
 * raised as a Gradio toast.
 */

import { type ConnectionState, WebRTCClient } from "./client";
import type { Modality, Mode, OfferRequest, OfferResponse, ServerMessage } from "./protocol";
import { ensure_styles } from "./styles";

export const WEBRTC_VALUE = "__webrtc_value__";
export const START_STREAM = "start_webrtc_stream";

export interface ButtonLabels {
	start: string;
	stop: string;
	waiting: string;
}

export interface WidgetProps {
	mode: Mode;
	modality: Modality;
	label: string | null;
	show_label: boolean;
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
	/** Corner radius of the icon, in percent (fastrtc's option; 50 is a circle). */
	icon_radius: number | null;
	/** `"wave"`: the level bars; `"textbox"`: a text box beside the microphone (fastrtc's variant). */
	variant: "wave" | "textbox";
	/** Take the full width and the viewport's height (fastrtc's option). */
	full_screen: boolean;
}

/** The component's value: the connection's id, or the textbox variant's `{webrtc_id, textbox}`. */
export type WidgetValue = string | { webrtc_id: string; textbox: string };

/** Gradio events the widget raises: the Python `WebRTC.EVENTS` and the toasts. */
export type HostEvent =
	| "tick"
	| "state_change"
	| "submit"
	| "start_recording"
	| "stop_recording"
	| "error"
	| "warning";

/** What the Svelte wrapper provides: the server function, the value, events, translations. */
export interface WidgetHost {
	offer(body: OfferRequest): Promise<OfferResponse>;
	/** The `turn` server function: the ICE configuration when the app gives a function for it. */
	turn(): Promise<RTCConfiguration | { error: string } | null>;
	set_value(value: WidgetValue): void;
	dispatch(event: HostEvent, data?: string): void;
	i18n(key: string, fallback: string): string;
}

const BARS = 16;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, parent?: HTMLElement): HTMLElementTagNameMap[K] {
	const node = document.createElement(tag);
	node.className = cls;
	if (parent) parent.appendChild(node);
	return node;
}

function css_size(value: number | string | null): string {
	if (value === null) return "";
	return typeof value === "number" ? `${value}px` : value;
}

const CAMERA_ICON =
	'<svg viewBox="0 0 24 24" width="40" height="40" fill="none" stroke="currentColor" stroke-width="1.5" aria-hidden="true">' +
	'<path d="M15 10l4.55-2.28A1 1 0 0 1 21 8.62v6.76a1 1 0 0 1-1.45.9L15 14M5 18h8a2 2 0 0 0 2-2V8a2 2 0 0 0-2-2H5a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2z"/></svg>';

export class StreamWidget {
	private readonly root: HTMLDivElement;
	private readonly stage: HTMLDivElement;
	private readonly local_video: HTMLVideoElement;
	private readonly remote_video: HTMLVideoElement;
	private readonly remote_audio: HTMLAudioElement;
	private readonly placeholder: HTMLDivElement;
	private readonly camera_button: HTMLButtonElement;
	private readonly bars: HTMLSpanElement[] = [];
	private readonly icon_wrap: HTMLDivElement;
	private readonly pulse: HTMLDivElement;
	private readonly button: HTMLButtonElement;
	private readonly devices: HTMLSelectElement;
	private readonly mute: HTMLButtonElement;
	private readonly text_form: HTMLFormElement;
	private readonly text_input: HTMLInputElement;
	private readonly status: HTMLDivElement;
	private readonly error_box: HTMLDivElement;
	private readonly countdown: HTMLDivElement;
	private readonly title: HTMLDivElement;
	private client: WebRTCClient;
	private local: MediaStream | null = null;
	/** The camera's picture shown before and after streaming (video send modes). */
	private preview: MediaStream | null = null;
	private previewing: Promise<void> | null = null;
	private remote: MediaStream | null = null;
	private audio_ctx: AudioContext | null = null;
	private raf = 0;
	private state: ConnectionState = "idle";
	private ended_reason: string | null = null;
	private destroyed = false;
	/** The text last sent: the value keeps it (a handler asks for the inputs again with `tick`
	 * before it replies) until the user types the next one, while the box is cleared for it. */
	private sent_text: string | null = null;

	constructor(
		parent: HTMLElement,
		private props: WidgetProps,
		private readonly host: WidgetHost,
	) {
		ensure_styles();
		this.root = el("div", "gwr-root", parent);
		this.root.dataset.testid = "webrtc";
		this.title = el("div", "gwr-label", this.root);
		this.stage = el("div", "gwr-stage", this.root);
		this.remote_video = el("video", "gwr-remote", this.stage);
		this.local_video = el("video", "gwr-local", this.stage);
		for (const v of [this.local_video, this.remote_video]) {
			v.autoplay = true;
			v.playsInline = true;
		}
		this.local_video.muted = true;
		this.remote_video.muted = props.modality === "video";
		this.placeholder = el("div", "gwr-placeholder", this.stage);
		const icon = el("div", "gwr-placeholder-icon", this.placeholder);
		icon.innerHTML = CAMERA_ICON;
		el("div", "gwr-placeholder-text", this.placeholder).textContent = "The camera is off";
		this.camera_button = el("button", "gwr-camera", this.placeholder);
		this.camera_button.type = "button";
		this.camera_button.textContent = "Turn on the camera";
		const bar_box = el("div", "gwr-bars", this.stage);
		for (let i = 0; i < BARS; i++) this.bars.push(el("span", "gwr-bar", bar_box));
		this.icon_wrap = el("div", "gwr-icon-wrap", this.stage);
		this.pulse = el("div", "gwr-pulse", this.icon_wrap);
		const icon_img = el("img", "gwr-icon", this.icon_wrap);
		icon_img.alt = "";
		this.remote_audio = el("audio", "gwr-remote-audio", this.root);
		this.remote_audio.autoplay = true;
		// Always laid out (hidden by visibility): starting the countdown moves nothing.
		this.countdown = el("div", "gwr-countdown", this.root);
		el("div", "gwr-countdown-fill", this.countdown);
		const controls = el("div", "gwr-controls", this.root);
		this.button = el("button", "gwr-button", controls);
		this.button.type = "button";
		this.text_form = el("form", "gwr-text", controls);
		this.text_input = el("input", "gwr-text-input", this.text_form);
		this.text_input.type = "text";
		this.text_input.placeholder = "Type a message";
		this.text_input.setAttribute("aria-label", "message");
		const send = el("button", "gwr-text-send", this.text_form);
		send.type = "submit";
		send.textContent = "Send";
		this.devices = el("select", "gwr-devices", controls);
		this.devices.setAttribute("aria-label", "input device");
		this.mute = el("button", "gwr-mute", controls);
		this.mute.type = "button";
		this.status = el("div", "gwr-status", this.root);
		this.status.setAttribute("role", "status");
		this.error_box = el("div", "gwr-error", this.root);
		this.error_box.setAttribute("role", "alert");
		this.error_box.hidden = true;

		this.button.addEventListener("click", () => void this.toggle());
		this.camera_button.addEventListener("click", () => void this.start_preview(true));
		this.devices.addEventListener("change", () => void this.switch_device());
		this.mute.addEventListener("click", () => this.toggle_mute());
		this.text_form.addEventListener("submit", (event) => {
			event.preventDefault();
			this.submit_text();
		});
		this.text_input.addEventListener("input", () => {
			this.sent_text = null;
			this.publish_value();
		});
		this.client = this.make_client();
		// Closing or reloading the tab ends the session at once (the data channel closes), instead of
		// holding a concurrency slot until the server's ICE timeout notices the silence.
		window.addEventListener("pagehide", this.on_pagehide);
		this.update(props);
		this.render();
		void this.start_preview(false);
	}

	private readonly on_pagehide = (): void => {
		if (this.active()) this.client.stop(false);
	};

	private make_client(): WebRTCClient {
		return new WebRTCClient({
			mode: this.props.mode,
			modality: this.props.modality,
			rtc_configuration: async () => {
				if (this.props.rtc_configuration !== null) return this.props.rtc_configuration;
				const fetched = await this.host.turn();
				if (fetched !== null && "error" in fetched) throw new Error(fetched.error);
				return fetched;
			},
			rtp_params: this.props.rtp_params ?? {},
			offer: (body) => {
				this.publish_value(body.webrtc_id); // the id is the value before the server asks for inputs
				return this.host.offer(body);
			},
			on_state: (state, detail) => this.on_state(state, detail),
			on_message: (message) => this.on_message(message),
			on_remote_stream: (stream) => this.on_remote(stream),
		});
	}

	/** The value Gradio sends with `tick` and `submit`: the id, or `{webrtc_id, textbox}`. */
	private publish_value(webrtc_id: string | null = this.client.webrtc_id): void {
		if (webrtc_id === null) return;
		this.host.set_value(
			this.props.variant === "textbox" ? { webrtc_id, textbox: this.sent_text ?? this.text_input.value } : webrtc_id,
		);
	}

	private submit_text(): void {
		if (this.client.webrtc_id === null || !this.active()) {
			this.show_error("Start the conversation first, then send a message.");
			return;
		}
		this.sent_text = this.text_input.value;
		this.publish_value();
		this.host.dispatch("submit");
		this.text_input.value = "";
	}

	/** New props from Gradio. */
	update(props: WidgetProps): void {
		const rebuild = props.mode !== this.props.mode || props.modality !== this.props.modality;
		this.props = props;
		if (rebuild && this.state === "idle") this.client = this.make_client();
		this.root.style.height = css_size(props.height);
		this.root.style.width = css_size(props.width);
		this.root.classList.toggle("gwr-full-screen", props.full_screen);
		this.title.textContent = props.show_label && props.label ? props.label : "";
		this.title.hidden = !(props.show_label && props.label);
		const img = this.icon_wrap.querySelector("img");
		if (img && props.icon) img.src = props.icon;
		this.icon_wrap.style.setProperty("--gwr-icon-bg", props.icon_button_color ?? "var(--color-accent)");
		this.icon_wrap.style.setProperty("--gwr-icon-radius", `${props.icon_radius ?? 50}%`);
		this.root.style.setProperty("--gwr-pulse", props.pulse_color ?? "var(--color-accent)");
		this.render();
	}

	/** The component value changed on the server side (receive mode: the trigger fired). */
	set_value(value: WidgetValue | null): void {
		if (this.props.mode === "receive" && value === START_STREAM && !this.active()) {
			void this.start();
		}
	}

	private active(): boolean {
		return this.state === "connecting" || this.state === "connected";
	}

	private label(which: keyof ButtonLabels, key: string, fallback: string): string {
		return this.props.button_labels[which] || this.host.i18n(key, fallback);
	}

	/** A camera picture of the user is part of this stream (video or audio-video, sending). */
	private sends_video(): boolean {
		return this.props.modality !== "audio" && this.props.mode !== "receive";
	}

	private render(): void {
		const { mode, modality } = this.props;
		const video = modality !== "audio";
		const audio_only = modality === "audio";
		const streaming = this.state === "connected";
		this.root.dataset.state = this.state;
		this.root.dataset.mode = mode;
		this.root.dataset.modality = modality;
		this.root.dataset.variant = this.props.variant;
		const own_picture = this.local ?? this.preview;
		// The user's picture: the preview before and after, picture-in-picture over the remote
		// picture while a send-receive stream runs, the whole stage in send mode.
		this.local_video.hidden = !this.sends_video() || own_picture === null;
		const pip = mode === "send-receive" && streaming && this.remote !== null;
		this.local_video.classList.toggle("gwr-pip", pip);
		this.local_video.classList.toggle("gwr-mirror", this.props.mirror_webcam);
		if (this.local_video.srcObject !== own_picture) this.local_video.srcObject = own_picture;
		// The remote picture only while streaming (after a stop, the preview, not a frozen frame).
		this.remote_video.hidden = !video || mode === "send" || !streaming || this.remote === null;
		this.placeholder.hidden = !this.sends_video() || own_picture !== null;
		this.camera_button.hidden = this.active();
		if (video) this.root.dataset.picture = !this.remote_video.hidden ? "remote" : !this.local_video.hidden ? "preview" : "none";
		const bars_box = this.bars[0]?.parentElement;
		if (bars_box) bars_box.hidden = !audio_only || this.props.icon !== null;
		this.icon_wrap.hidden = !audio_only || this.props.icon === null;
		this.button.hidden = mode === "receive" && !this.active();
		this.button.disabled = false;
		this.button.replaceChildren();
		if (this.state === "connecting") {
			el("span", "gwr-spinner", this.button);
			this.button.append(this.label("waiting", "audio.waiting", "Waiting"));
		} else if (this.state === "connected") {
			this.button.append(this.label("stop", "audio.stop", "Stop"));
		} else {
			this.button.append(this.label("start", "audio.record", "Record"));
		}
		this.text_form.hidden = this.props.variant !== "textbox";
		this.devices.hidden = mode === "receive" || this.devices.options.length < 2;
		this.mute.hidden = mode === "receive" || this.local === null || modality === "video";
		const muted = this.local?.getAudioTracks().some((t) => !t.enabled) ?? false;
		this.mute.textContent = muted ? "Unmute" : "Mute";
		this.mute.setAttribute("aria-pressed", String(muted));
		this.status.textContent = this.status_text();
		this.countdown.classList.toggle("gwr-counting", this.props.time_limit !== null && streaming);
	}

	private status_text(): string {
		switch (this.state) {
			case "idle":
				return this.props.mode === "receive" ? "Waiting for the stream to start" : "Ready";
			case "connecting":
				return "Connecting…";
			case "connected":
				return "Streaming";
			case "closed":
				return this.ended_reason ? `Stopped: ${this.ended_reason}` : "Stopped";
			case "failed":
				return "Stopped: an error occurred";
		}
	}

	private show_error(message: string | null): void {
		this.error_box.textContent = message ?? "";
		this.error_box.hidden = message === null;
	}

	private async toggle(): Promise<void> {
		if (this.active()) {
			this.stop();
		} else {
			await this.start();
		}
	}

	private constraints(): MediaStreamConstraints {
		const { modality } = this.props;
		const tc = this.props.track_constraints ?? {};
		if (modality === "audio") return { audio: Object.keys(tc).length ? tc : true, video: false };
		if (modality === "video") return { video: Object.keys(tc).length ? tc : true, audio: false };
		// audio-video: {video: ..., audio: ...} (the original passed the whole dict as the video constraint)
		const v = (tc as { video?: MediaTrackConstraints }).video ?? true;
		const a = (tc as { audio?: MediaTrackConstraints }).audio ?? true;
		return { video: v, audio: a };
	}

	/**
	 * The camera's picture before streaming (and again after): at once when the user already
	 * allowed the camera, else only when asked (`ask`: the placeholder's button), so that a page
	 * never opens with a permission prompt.
	 */
	private async start_preview(ask: boolean): Promise<void> {
		if (!this.sends_video() || this.preview !== null || this.local !== null || this.destroyed) return;
		if (this.previewing !== null) return this.previewing;
		this.previewing = (async () => {
			try {
				if (!ask && !(await this.camera_allowed())) return;
				const video = this.constraints().video ?? true;
				const stream = await navigator.mediaDevices.getUserMedia({ video, audio: false });
				if (this.destroyed || this.active()) {
					for (const t of stream.getTracks()) t.stop();
					return;
				}
				this.preview = stream;
				this.show_error(null);
			} catch (error) {
				if (ask) this.show_error(`Could not access the camera: ${error instanceof Error ? error.message : String(error)}`);
			} finally {
				this.previewing = null;
				this.render();
			}
		})();
		return this.previewing;
	}

	private async camera_allowed(): Promise<boolean> {
		try {
			const status = await navigator.permissions.query({ name: "camera" as PermissionName });
			return status.state === "granted";
		} catch {
			return false; // browsers without the camera permission name: wait for the button
		}
	}

	private stop_preview(): void {
		for (const t of this.preview?.getTracks() ?? []) t.stop();
		this.preview = null;
	}

	async start(): Promise<void> {
		this.show_error(null);
		this.ended_reason = null;
		if (this.props.mode !== "receive") {
			await this.previewing;
			this.stop_preview(); // the stream asks for its own tracks (audio too, the chosen device)
			try {
				this.local = await navigator.mediaDevices.getUserMedia(this.constraints());
			} catch (error) {
				const what = this.props.modality === "audio" ? "microphone" : "camera";
				this.fail(`Could not access the ${what}: ${error instanceof Error ? error.message : String(error)}`);
				return;
			}
			await this.list_devices();
			if (this.props.modality === "audio") this.watch_level();
		}
		this.host.dispatch("start_recording");
		try {
			await this.client.start(this.local);
		} catch {
			// on_state already reported the failure
		}
	}

	stop(reason: string | null = null): void {
		const was_active = this.active();
		this.ended_reason = reason;
		this.client.stop();
		this.release();
		this.set_state("closed");
		if (was_active) this.host.dispatch("stop_recording");
	}

	private release(): void {
		for (const t of this.local?.getTracks() ?? []) t.stop();
		this.local = null;
		this.remote = null;
		this.remote_video.srcObject = null;
		cancelAnimationFrame(this.raf);
		this.raf = 0;
		void this.audio_ctx?.close();
		this.audio_ctx = null;
		for (const b of this.bars) b.style.transform = "";
		this.pulse.style.transform = "";
		delete this.root.dataset.speaker;
		delete this.root.dataset.level;
		// Back to the live preview: the user allowed the camera for this stream.
		window.setTimeout(() => void this.start_preview(false), 0);
	}

	private fail(message: string): void {
		this.show_error(message);
		this.host.dispatch("error", message);
		this.release();
		this.set_state("failed");
	}

	private set_state(state: ConnectionState): void {
		this.state = state;
		this.render();
	}

	private on_state(state: ConnectionState, detail?: string): void {
		if (state === "failed") {
			this.fail(detail ?? "The connection failed.");
			return;
		}
		if (state === "closed" && this.active()) {
			this.release();
		}
		this.set_state(state);
		if (state === "connected") {
			this.start_countdown();
			// Video handlers are called with the other inputs from the first frame on (the original
			// sent one tick when connected); audio handlers ask with a `tick` message when they need them.
			if (this.props.modality !== "audio" || this.props.mode === "receive") this.host.dispatch("tick");
		}
	}

	private on_message(message: ServerMessage): void {
		switch (message.kind) {
			case "tick":
				this.publish_value();
				this.host.dispatch("tick");
				break;
			case "change":
				this.host.dispatch("state_change");
				break;
			case "stopword":
				this.root.classList.add("gwr-stopword");
				window.setTimeout(() => this.root.classList.remove("gwr-stopword"), 3000);
				break;
			case "warning":
				this.host.dispatch("warning", message.message);
				break;
			case "error":
				this.show_error(message.message);
				this.host.dispatch("error", message.message);
				break;
			case "end_stream":
				this.stop(message.message || "the stream ended");
				this.host.dispatch("warning", message.message || "The stream ended.");
				break;
			case "update_connection":
				// The server asks the page to close the stream (fastrtc's `update_connection`).
				if (message.message === "closed") this.stop("closed by the server");
				break;
			case "log":
			case "other":
				break;
		}
	}

	private on_remote(stream: MediaStream): void {
		this.remote = stream;
		if (this.props.modality !== "audio") {
			this.remote_video.srcObject = stream;
		}
		if (this.props.modality !== "video") {
			this.remote_audio.srcObject = stream;
			if (this.props.modality === "audio") this.watch_level();
		}
		this.render();
	}

	private start_countdown(): void {
		const fill = this.countdown.firstElementChild as HTMLElement | null;
		if (fill === null || this.props.time_limit === null) return;
		fill.style.transition = "none";
		fill.style.width = "100%";
		void fill.offsetWidth; // restart the transition
		fill.style.transition = `width ${this.props.time_limit}s linear`;
		fill.style.width = "0%";
	}
	/**
	 * Animates the level bars (or the icon's pulse) from the microphone and the reply together, so
	 * the user sees that they are heard while they talk, not only when the reply plays. Each bar
	 * shows the louder of the two; `data-speaker` says which one dominates ("user" or "reply").
	 */
	private watch_level(): void {
		const streams = [this.local, this.remote].filter(
			(s): s is MediaStream => s !== null && s.getAudioTracks().length > 0,
		);
		if (streams.length === 0) return;
		cancelAnimationFrame(this.raf);
		void this.audio_ctx?.close();
		const ctx = new AudioContext();
		this.audio_ctx = ctx;
		const meters = streams.map((stream) => {
			const analyser = ctx.createAnalyser();
			analyser.fftSize = 64;
			ctx.createMediaStreamSource(stream).connect(analyser);
			return { stream, analyser, data: new Uint8Array(analyser.frequencyBinCount) };
		});
		const frame = (): void => {
			const levels = meters.map((m) => {
				m.analyser.getByteFrequencyData(m.data);
				return m.data.reduce((sum, v) => sum + v, 0) / (m.data.length * 255);
			});
			let total = 0;
			this.bars.forEach((bar, i) => {
				const v = Math.max(...meters.map((m) => m.data[Math.min(m.data.length - 1, i + 1)] / 255));
				total += v;
				bar.style.transform = `scaleY(${Math.max(0.08, v)})`;
			});
			const level = total / this.bars.length;
			const mic = meters.findIndex((m) => m.stream === this.local);
			const reply = meters.findIndex((m) => m.stream === this.remote);
			const mic_level = mic >= 0 ? levels[mic] : 0;
			const reply_level = reply >= 0 ? levels[reply] : 0;
			this.root.dataset.level = level.toFixed(3);
			this.root.dataset.micLevel = mic_level.toFixed(3);
			this.root.dataset.replyLevel = reply_level.toFixed(3);
			this.root.dataset.speaker = level < 0.02 ? "" : mic_level > reply_level ? "user" : "reply";
			this.pulse.style.transform = `scale(${1 + level * 1.5})`;
			this.raf = requestAnimationFrame(frame);
		};
		this.raf = requestAnimationFrame(frame);
	}

	private async list_devices(): Promise<void> {
		const kind: MediaDeviceKind = this.props.modality === "audio" ? "audioinput" : "videoinput";
		const current = this.local?.getTracks().find((t) => t.kind === (kind === "audioinput" ? "audio" : "video"));
		const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === kind);
		this.devices.replaceChildren();
		for (const d of devices) {
			const option = el("option", "", this.devices);
			option.value = d.deviceId;
			option.textContent = d.label || d.deviceId;
			option.selected = current?.getSettings().deviceId === d.deviceId;
		}
		this.render();
	}

	private async switch_device(): Promise<void> {
		if (this.local === null) return;
		const video = this.props.modality !== "audio";
		const constraints = this.constraints();
		const key = video ? "video" : "audio";
		const base = constraints[key];
		const extra = typeof base === "object" ? base : {};
		const fresh = await navigator.mediaDevices.getUserMedia({
			[key]: { ...extra, deviceId: { exact: this.devices.value } },
		});
		const track = fresh.getTracks()[0];
		if (!track) return;
		for (const old of this.local.getTracks().filter((t) => t.kind === track.kind)) {
			old.stop();
			this.local.removeTrack(old);
		}
		this.local.addTrack(track);
		this.local_video.srcObject = this.local;
		await this.client.replace_track(track);
	}

	private toggle_mute(): void {
		for (const t of this.local?.getAudioTracks() ?? []) t.enabled = !t.enabled;
		this.render();
	}

	destroy(): void {
		this.destroyed = true;
		window.removeEventListener("pagehide", this.on_pagehide);
		this.client.stop(false);
		this.release();
		this.stop_preview();
		this.root.remove();
	}
}
