/**
 * A typed WebRTC client for one stream: builds the peer connection, posts the offer through the
 * component's `offer` server function (non-trickle: the offer carries every candidate), and reports
 * state, remote media and side-channel messages through callbacks.
 */

import {
	type Modality,
	type Mode,
	type OfferRequest,
	type OfferResponse,
	type ServerMessage,
	affinity_cookie_to_drop,
	describe_failure,
	new_webrtc_id,
	parse_message,
} from "./protocol";

export type ConnectionState = "idle" | "connecting" | "connected" | "closed" | "failed";

export interface ClientOptions {
	mode: Mode;
	modality: Modality;
	/** The ICE configuration for the next connection (may ask the server for fresh TURN credentials). */
	rtc_configuration: () => Promise<RTCConfiguration | null>;
	rtp_params: Record<string, unknown>;
	offer: (body: OfferRequest) => Promise<OfferResponse>;
	on_state: (state: ConnectionState, detail?: string) => void;
	on_message: (message: ServerMessage) => void;
	on_remote_stream: (stream: MediaStream) => void;
}

/** Longest wait for local ICE gathering before the offer is sent with the candidates found so far. */
const GATHER_TIMEOUT_MS = 5000;
/** A connected call from which nothing (media, RTCP, data) arrived for this long lost its server:
 * the server's RTCP reports alone arrive every second, whatever the mode. */
const SILENCE_LIMIT_MS = 3000;
const WATCH_EVERY_MS = 1000;

/** What the page says when a call that was up loses its server (not a TURN hint: it connected). */
export const LOST_SERVER = "The connection to the server was lost.";
/** What the page says when a connection never came up. */
export const ICE_FAILED =
	"The connection failed. If the server is remote, it may need a TURN server (rtc_configuration).";

export class WebRTCClient {
	private pc: RTCPeerConnection | null = null;
	private channel: RTCDataChannel | null = null;
	private state: ConnectionState = "idle";
	/** The connection was up once: a later failure is a lost server, not a negotiation failure. */
	private was_connected = false;
	private watchdog = 0;
	webrtc_id: string | null = null;

	constructor(private readonly options: ClientOptions) {}

	get connection_state(): ConnectionState {
		return this.state;
	}

	private set_state(state: ConnectionState, detail?: string): void {
		if (this.state === state && detail === undefined) return;
		this.state = state;
		this.options.on_state(state, detail);
	}

	/** Connects, sending `local` (if any) and receiving what the mode asks for. Returns the webrtc_id. */
	async start(local: MediaStream | null): Promise<string> {
		this.stop(false);
		this.was_connected = false;
		const { mode, modality } = this.options;
		this.set_state("connecting");
		let configuration: RTCConfiguration | null;
		try {
			configuration = await this.options.rtc_configuration();
		} catch (error) {
			this.set_state("failed", error instanceof Error ? error.message : String(error));
			throw error;
		}
		const pc = new RTCPeerConnection(configuration ?? undefined);
		this.pc = pc;
		const channel = pc.createDataChannel("text");
		this.channel = channel;
		channel.onmessage = (event: MessageEvent) => {
			if (typeof event.data === "string") this.options.on_message(parse_message(event.data));
		};
		channel.onclose = () => {
			if (this.pc === pc && this.state === "connected") this.set_state("closed");
		};
		pc.ontrack = (event: RTCTrackEvent) => {
			this.options.on_remote_stream(event.streams[0] ?? new MediaStream([event.track]));
		};
		pc.onconnectionstatechange = () => {
			if (this.pc !== pc) return;
			switch (pc.connectionState) {
				case "connected":
					this.was_connected = true;
					this.set_state("connected");
					this.watch(pc);
					break;
				case "failed":
					this.fail(this.was_connected ? LOST_SERVER : ICE_FAILED);
					break;
				case "closed":
					this.set_state("closed");
					break;
				case "disconnected":
					// Often transient (a network change): the watchdog decides whether the server is gone.
					break;
			}
		};
		if (mode !== "receive" && local !== null) {
			for (const track of local.getTracks()) {
				const sender = pc.addTrack(track, local);
				if (mode === "send" && track.kind !== "audio") continue;
				await this.apply_rtp_params(sender);
			}
			if (mode === "send") {
				for (const t of pc.getTransceivers()) t.direction = "sendonly";
			}
		} else {
			const kinds: ("audio" | "video")[] =
				modality === "audio-video" ? ["audio", "video"] : [modality === "video" ? "video" : "audio"];
			for (const kind of kinds) pc.addTransceiver(kind, { direction: "recvonly" });
		}
		await pc.setLocalDescription(await pc.createOffer());
		await this.gathered(pc);
		const local_description = pc.localDescription;
		if (local_description === null) throw new Error("the browser produced no offer");
		const webrtc_id = new_webrtc_id();
		this.webrtc_id = webrtc_id;
		let response: OfferResponse;
		try {
			response = await this.options.offer({ sdp: local_description.sdp, type: local_description.type, webrtc_id });
		} catch (error) {
			this.fail(`The connection request failed: ${error instanceof Error ? error.message : String(error)}`);
			throw error;
		}
		const failure = describe_failure(response);
		const cookie = affinity_cookie_to_drop(response);
		if (cookie !== null) document.cookie = `${cookie}=; Max-Age=0; path=/; SameSite=Lax`;
		if (failure !== null || !("sdp" in response)) {
			this.fail(failure ?? "The server refused the connection.");
			throw new Error(failure ?? "refused");
		}
		if (this.pc !== pc) throw new Error("stopped while connecting");
		await pc.setRemoteDescription({ type: "answer", sdp: response.sdp });
		return webrtc_id;
	}

	private async apply_rtp_params(sender: RTCRtpSender): Promise<void> {
		const extra = this.options.rtp_params;
		if (Object.keys(extra).length === 0) return;
		const params = sender.getParameters();
		await sender.setParameters({ ...params, ...extra } as RTCRtpSendParameters);
	}

	/** Reports a lost server within `SILENCE_LIMIT_MS` of its last packet: the bytes received on
	 * the ICE transport stop growing (the browser's own verdict, "failed", takes ~30 s). */
	private watch(pc: RTCPeerConnection): void {
		window.clearInterval(this.watchdog);
		let last_bytes = -1;
		let last_change = performance.now();
		this.watchdog = window.setInterval(async () => {
			if (this.pc !== pc) {
				window.clearInterval(this.watchdog);
				return;
			}
			let bytes = 0;
			try {
				(await pc.getStats()).forEach((report: { type: string; bytesReceived?: number }) => {
					if (report.type === "transport") bytes += report.bytesReceived ?? 0;
				});
			} catch {
				return;
			}
			const now = performance.now();
			if (bytes !== last_bytes) {
				last_bytes = bytes;
				last_change = now;
			} else if (now - last_change >= SILENCE_LIMIT_MS && this.pc === pc && this.state === "connected") {
				this.fail(LOST_SERVER);
			}
		}, WATCH_EVERY_MS);
	}

	private gathered(pc: RTCPeerConnection): Promise<void> {
		if (pc.iceGatheringState === "complete") return Promise.resolve();
		return new Promise((resolve) => {
			const timer = window.setTimeout(resolve, GATHER_TIMEOUT_MS);
			pc.addEventListener("icegatheringstatechange", () => {
				if (pc.iceGatheringState === "complete") {
					window.clearTimeout(timer);
					resolve();
				}
			});
		});
	}

	private fail(detail: string): void {
		this.set_state("failed", detail);
		this.teardown();
	}

	/** Replaces the outgoing track of one kind (device switch) without renegotiating. */
	async replace_track(track: MediaStreamTrack): Promise<void> {
		const sender = this.pc?.getSenders().find((s) => s.track?.kind === track.kind);
		if (sender) await sender.replaceTrack(track);
	}

	/** Sends text to the server on the data channel, if it is open. */
	send(text: string): void {
		if (this.channel?.readyState === "open") this.channel.send(text);
	}

	/** Closes the connection (the server ends the session when the data channel closes). */
	stop(report = true): void {
		const had = this.pc !== null;
		this.teardown();
		if (had && report) this.set_state("closed");
	}

	private teardown(): void {
		window.clearInterval(this.watchdog);
		const pc = this.pc;
		this.pc = null;
		this.channel = null;
		if (pc === null) return;
		for (const t of pc.getTransceivers()) {
			try {
				t.stop();
			} catch {
				// already stopped
			}
		}
		pc.close();
	}
}
