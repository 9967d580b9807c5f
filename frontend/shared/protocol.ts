/**
 * The side channel between the server and this component, as the original gradio_webrtc spoke it
 * (plain strings `tick`, `change`, `stopword`; JSON `{type: "warning" | "error", message}`) plus the
 * later `{type, data}` family that fastrtc and this engine also send (`end_stream`, `log`, ...).
 */

export type Mode = "send-receive" | "receive" | "send";
export type Modality = "video" | "audio" | "audio-video";

/** What the server said, in one tagged shape. */
export type ServerMessage =
	| { kind: "tick" }
	| { kind: "change" }
	| { kind: "stopword" }
	| { kind: "warning"; message: string }
	| { kind: "error"; message: string }
	| { kind: "end_stream"; message: string }
	| { kind: "log"; message: string }
	| { kind: "update_connection"; message: string }
	| { kind: "other"; raw: string };

/** The body posted to the `offer` server function. */
export interface OfferRequest {
	sdp: string;
	type: string;
	webrtc_id: string;
}

/** The server's reply: an answer, or a refusal with a reason. */
export type OfferResponse =
	| { sdp: string; type: "answer" }
	| { status: "failed"; meta: { error: string; message?: string; limit?: number; affinity_cookie?: string } };

function text_of(value: unknown): string {
	return typeof value === "string" ? value : value === undefined || value === null ? "" : JSON.stringify(value);
}

/** Parses one data-channel message. Unknown messages are kept as `other`, never dropped silently. */
export function parse_message(raw: string): ServerMessage {
	if (raw === "tick" || raw === "change" || raw === "stopword") {
		return { kind: raw };
	}
	let data: unknown;
	try {
		data = JSON.parse(raw);
	} catch {
		return { kind: "other", raw };
	}
	if (typeof data !== "object" || data === null || !("type" in data)) {
		return { kind: "other", raw };
	}
	const record = data as { type: unknown; message?: unknown; data?: unknown };
	const message = text_of(record.message ?? record.data);
	switch (record.type) {
		case "warning":
		case "error":
		case "end_stream":
		case "log":
		case "update_connection":
			return { kind: record.type, message };
		case "send_input":
			return { kind: "tick" };
		case "fetch_output":
			return { kind: "change" };
		case "stopword":
			return { kind: "stopword" };
		default:
			return { kind: "other", raw };
	}
}

/** A sentence for the person using the app, for a refused offer. */
export function describe_failure(response: OfferResponse | null | undefined): string | null {
	if (response === null || response === undefined) {
		return "The server did not answer the connection request.";
	}
	if ("sdp" in response) {
		return null;
	}
	const meta = response.meta ?? { error: "unknown" };
	switch (meta.error) {
		case "concurrency_limit_reached":
			return `Too many people are streaming right now (limit ${meta.limit ?? "reached"}). Please try again later.`;
		case "connection_already_exists":
			return "This connection is already open.";
		case "not_ready":
			return "This stream is not set up on the server (no handler).";
		case "invalid_offer":
			return `The server could not accept this connection: ${meta.message ?? "invalid offer"}`;
		case "no_usable_media":
			return `This browser offered no media the stream can use: ${meta.message ?? "no usable codec"}`;
		case "server_shutting_down":
			return "The server is shutting down. Please try again in a moment.";
		case "server_draining":
			return "This server is restarting. Reload the page to continue on another one.";
		case "server_busy":
			return "This server is at capacity. Reload the page to try another one, or try again later.";
		case "setup_failed":
		case "invalid_ice_configuration":
		case "ice_configuration_failed":
			return `The server could not set up the connection: ${meta.message ?? meta.error}`;
		default:
			return meta.message ?? `The server refused the connection (${meta.error}).`;
	}
}

/** The balancer's affinity cookie to drop after a refusal that means "go elsewhere" (a draining or
 * full replica), so that the next page load lands on another replica; null for other answers. */
export function affinity_cookie_to_drop(response: OfferResponse | null | undefined): string | null {
	if (response === null || response === undefined || "sdp" in response) return null;
	const { error, affinity_cookie } = response.meta ?? { error: "unknown" };
	if (error !== "server_draining" && error !== "server_busy") return null;
	return typeof affinity_cookie === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(affinity_cookie) ? affinity_cookie : null;
}

/** A fresh id for a connection: 128 random bits from the platform's CSPRNG, as 32 hex digits
 * (the original used `Math.random()`, whose ids another page could predict). */
export function new_webrtc_id(): string {
	const bytes = crypto.getRandomValues(new Uint8Array(16));
	return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
