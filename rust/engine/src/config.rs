//! Configuration: ICE servers in the browser's `RTCConfiguration` shape, and per-session options.

use std::time::Duration;

use serde::Deserialize;
use webrtc::peer_connection::{RTCIceServer, RTCIceTransportPolicy};

use crate::EngineError;

/// The server peer's ICE servers and transport policy, parsed from the same JSON shape a browser's
/// `RTCPeerConnection` takes: `{"iceServers": [{"urls", "username", "credential"}],
/// "iceTransportPolicy": "all" | "relay"}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IceConfig {
    /// STUN/TURN servers.
    pub servers: Vec<RTCIceServer>,
    /// Only relay candidates when true.
    pub relay_only: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Urls {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct ServerJson {
    urls: Option<Urls>,
    /// Deprecated single-URL spelling still used by some providers (Twilio).
    url: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    credential: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigJson {
    #[serde(default)]
    ice_servers: Vec<ServerJson>,
    #[serde(default)]
    ice_transport_policy: Option<String>,
}

impl IceConfig {
    /// Parses an `RTCConfiguration`-shaped JSON value. Unknown keys are ignored, like browsers do.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, EngineError> {
        if value.is_null() {
            return Ok(Self::default());
        }
        let parsed: ConfigJson =
            serde_json::from_value(value.clone()).map_err(|e| EngineError::InvalidConfig(e.to_string()))?;
        let relay_only = match parsed.ice_transport_policy.as_deref() {
            None | Some("all") => false,
            Some("relay") => true,
            Some(other) => {
                return Err(EngineError::InvalidConfig(format!(
                    "iceTransportPolicy must be \"all\" or \"relay\", got {other:?}"
                )))
            }
        };
        let mut servers = Vec::new();
        for s in parsed.ice_servers {
            let urls = match (s.urls, s.url) {
                (Some(Urls::One(u)), _) | (None, Some(u)) => vec![u],
                (Some(Urls::Many(us)), _) => us,
                (None, None) => return Err(EngineError::InvalidConfig("an ICE server has no urls".into())),
            };
            let mut cleaned = Vec::new();
            for url in urls {
                let scheme = url.split(':').next().unwrap_or_default().to_string();
                if !matches!(scheme.as_str(), "stun" | "stuns" | "turn" | "turns") {
                    return Err(EngineError::InvalidConfig(format!(
                        "unsupported ICE server URL {url:?}"
                    )));
                }
                // webrtc-rs refuses query strings on stun: URLs (`ErrStunQuery`); browsers ignore them.
                let url = if scheme.starts_with("stun") {
                    url.split('?').next().unwrap_or(&url).to_string()
                } else {
                    url
                };
                if scheme.starts_with("turn") && (s.username.is_none() || s.credential.is_none()) {
                    return Err(EngineError::InvalidConfig(format!(
                        "TURN server {url:?} needs a username and credential"
                    )));
                }
                cleaned.push(url);
            }
            servers.push(RTCIceServer {
                urls: cleaned,
                username: s.username.unwrap_or_default(),
                credential: s.credential.unwrap_or_default(),
            });
        }
        let has_turn = servers.iter().flat_map(|s| &s.urls).any(|u| u.starts_with("turn:"));
        if relay_only && !has_turn {
            return Err(EngineError::InvalidConfig(
                "iceTransportPolicy \"relay\" needs at least one turn: server (turns: and TCP TURN are not supported on the server side)".into(),
            ));
        }
        Ok(Self { servers, relay_only })
    }

    pub(crate) fn policy(&self) -> RTCIceTransportPolicy {
        if self.relay_only {
            RTCIceTransportPolicy::Relay
        } else {
            RTCIceTransportPolicy::All
        }
    }
}

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Local addresses to gather host candidates on. `0.0.0.0:0` means every non-loopback
    /// interface (webrtc-rs skips loopback for wildcards), so loopback is listed separately.
    pub bind_addresses: Vec<String>,
    /// No packets for this long marks the connection disconnected (default 5 s).
    pub ice_disconnected_timeout: Duration,
    /// Disconnected for this much longer ends the session (default 10 s; the browser side uses
    /// ~30 s, but a server should free a vanished client's slot sooner, see issue #53 upstream).
    pub ice_failed_timeout: Duration,
    /// Keep-alive interval for consent checks.
    pub ice_keepalive: Duration,
    /// Longest wait for ICE gathering; the answer then carries the candidates found so far.
    pub gather_timeout: Duration,
    /// Opus bitrate of outgoing audio.
    pub audio_bitrate: i32,
    /// Target bitrate of outgoing video (bits per second).
    pub video_bitrate: u32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            bind_addresses: vec!["0.0.0.0:0".into(), "127.0.0.1:0".into()],
            ice_disconnected_timeout: Duration::from_secs(5),
            ice_failed_timeout: Duration::from_secs(10),
            ice_keepalive: Duration::from_secs(2),
            gather_timeout: Duration::from_secs(5),
            audio_bitrate: 64_000,
            video_bitrate: 1_500_000,
        }
    }
}

/// What one session sends and receives.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // four independent directions, not a state machine
pub struct SessionOptions {
    /// Send audio to the peer (false in `send` mode).
    pub send_audio: bool,
    /// Decode the peer's audio for the handler (false in `receive` mode).
    pub recv_audio: bool,
    /// Send video to the peer.
    pub send_video: bool,
    /// Decode the peer's video for the handler.
    pub recv_video: bool,
    /// Rate of the frames handed to the handler.
    pub input_sample_rate: u32,
    /// Channels of the frames handed to the handler (1 or 2).
    pub input_channels: usize,
    /// Close the session this long after it connected.
    pub time_limit: Option<Duration>,
    /// Per-session ICE servers, overriding the engine's (short-lived TURN credentials).
    pub ice: Option<IceConfig>,
    /// Pause detection (`ReplyOnPause`): input audio stays in the engine and whole utterances are
    /// delivered instead of frames.
    pub pause: Option<gradio_webrtc_media::pause::PauseOptions>,
    /// With pause detection: the user talking during a reply stops it (queued audio is dropped at
    /// once); without, input during a reply is ignored, as in the original.
    pub can_interrupt: bool,
    /// With pause detection: also deliver each utterance while it is spoken, in ~100 ms pieces
    /// ([`crate::Speech::Partial`]), so that a stop word can be spotted before the user pauses.
    pub stream_speech: bool,
    /// How the page reads the events that ask it for something (`tick` or `send_input`).
    pub wording: crate::session::Wording,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            send_audio: true,
            recv_audio: true,
            send_video: false,
            recv_video: false,
            input_sample_rate: 48_000,
            input_channels: 1,
            time_limit: None,
            ice: None,
            pause: None,
            can_interrupt: true,
            stream_speech: false,
            wording: crate::session::Wording::Plain,
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use serde_json::json;

    #[test]
    fn browser_shaped_config() {
        let cfg = IceConfig::from_json(&json!({
            "iceServers": [
                {"urls": "stun:stun.example.org:3478?transport=udp"},
                {"urls": ["turn:127.0.0.1:3478?transport=udp"], "username": "u", "credential": "p"},
                {"url": "stun:legacy.example.org"}
            ],
            "iceTransportPolicy": "relay",
            "bundlePolicy": "max-bundle"
        }))
        .unwrap();
        assert!(cfg.relay_only);
        assert_eq!(cfg.servers[0].urls, vec!["stun:stun.example.org:3478"]);
        assert_eq!(cfg.servers[1].urls, vec!["turn:127.0.0.1:3478?transport=udp"]);
        assert_eq!(cfg.servers[2].urls, vec!["stun:legacy.example.org"]);
        assert_eq!(
            IceConfig::from_json(&serde_json::Value::Null).unwrap(),
            IceConfig::default()
        );
    }

    #[test]
    fn bad_configs_say_why() {
        let cases = [
            (
                json!({"iceServers": [{"urls": "http://x"}]}),
                "unsupported ICE server URL",
            ),
            (json!({"iceServers": [{"urls": "turn:x"}]}), "needs a username"),
            (json!({"iceServers": [{}]}), "no urls"),
            (json!({"iceTransportPolicy": "relay"}), "needs at least one turn"),
            (json!({"iceTransportPolicy": "none"}), "must be \"all\" or \"relay\""),
            (json!({"iceServers": "nope"}), "invalid ICE configuration"),
        ];
        for (value, needle) in cases {
            let err = IceConfig::from_json(&value).unwrap_err().to_string();
            assert!(err.contains(needle), "{value}: {err}");
        }
    }
}
