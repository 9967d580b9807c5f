//! How much video a link can carry: the bitrate estimate split between audio and video, and the
//! picture size and frame rate that fit video's share.
//!
//! Pure and clocked by the caller (`now` in seconds): the engine asks once per picture.
//!
//! * **Audio first.** Audio's share (its bitrate plus packet overhead) is taken out before video
//!   gets anything, and 10 % is kept for retransmissions and encoder overshoot.
//! * **Resolution, then frame rate.** Below what a picture size needs at 30 frames a second, the
//!   picture steps down a ladder of sizes; at the bottom the frame rate drops instead. Steps down
//!   are taken after the budget stayed below a rung for [`DOWN_AFTER_S`], steps up only after it
//!   stayed comfortably above the next one for [`UP_AFTER_S`]: each size change costs a keyframe.

/// One rung: from `min_bps` of video up, pictures of at most `max_pixels` at `fps`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rung {
    /// The least video bitrate this rung needs.
    pub min_bps: u32,
    /// The largest picture (width x height) sent on this rung.
    pub max_pixels: u32,
    /// The most pictures a second sent on this rung.
    pub fps: f32,
}

/// The ladder, from the top. VP8 carries 640x480 at 30 fps watchably from ~250 kbit/s; below
/// that a smaller picture at full rate looks better than a blocky large one.
pub const RUNGS: [Rung; 7] = [
    Rung {
        min_bps: 1_200_000,
        max_pixels: 1280 * 720,
        fps: 30.0,
    },
    Rung {
        min_bps: 500_000,
        max_pixels: 960 * 540,
        fps: 30.0,
    },
    Rung {
        min_bps: 250_000,
        max_pixels: 640 * 480,
        fps: 30.0,
    },
    Rung {
        min_bps: 130_000,
        max_pixels: 480 * 360,
        fps: 30.0,
    },
    Rung {
        min_bps: 80_000,
        max_pixels: 320 * 240,
        fps: 20.0,
    },
    Rung {
        min_bps: 40_000,
        max_pixels: 320 * 240,
        fps: 10.0,
    },
    Rung {
        min_bps: 0,
        max_pixels: 320 * 240,
        fps: 5.0,
    },
];

/// Seconds below a rung before stepping down.
pub const DOWN_AFTER_S: f64 = 1.0;
/// Seconds above the next rung (by [`UP_MARGIN`]) before stepping up.
pub const UP_AFTER_S: f64 = 4.0;
/// How far above a rung's `min_bps` the budget must be to step up to it.
pub const UP_MARGIN: f64 = 1.3;
/// Share of the estimate kept for retransmissions and encoder overshoot.
pub const HEADROOM: f64 = 0.10;

/// Video's share of `total_bps` (the link estimate) once audio's `audio_bps` is taken out.
#[must_use]
pub fn video_share(total_bps: f64, audio_bps: f64) -> u32 {
    (total_bps * (1.0 - HEADROOM) - audio_bps).max(0.0) as u32
}

/// The picture size that fits `max_pixels`, keeping `width` x `height`'s shape; even sides, never
/// larger than the input.
#[must_use]
pub fn fit(width: u32, height: u32, max_pixels: u32) -> (u32, u32) {
    let pixels = u64::from(width) * u64::from(height);
    if pixels <= u64::from(max_pixels) {
        return (width, height);
    }
    let scale = (f64::from(max_pixels) / pixels as f64).sqrt();
    let even = |v: f64| ((v as u32) & !1).max(2);
    (even(f64::from(width) * scale), even(f64::from(height) * scale))
}

/// Where on the ladder the stream is, with the hysteresis between rungs.
#[derive(Debug, Clone)]
pub struct Ladder {
    rung: usize,
    below_since: Option<f64>,
    above_since: Option<f64>,
}

impl Ladder {
    /// A ladder starting on the rung that `initial_bps` of video affords.
    #[must_use]
    pub fn new(initial_bps: u32) -> Self {
        let rung = RUNGS
            .iter()
            .position(|r| initial_bps >= r.min_bps)
            .unwrap_or(RUNGS.len() - 1);
        Self {
            rung,
            below_since: None,
            above_since: None,
        }
    }

    /// The rung now.
    #[must_use]
    pub fn rung(&self) -> Rung {
        RUNGS[self.rung]
    }

    /// Takes video's budget at `now` (seconds); returns the rung to send at.
    pub fn update(&mut self, now: f64, video_bps: u32) -> Rung {
        let current = RUNGS[self.rung];
        if video_bps < current.min_bps && self.rung + 1 < RUNGS.len() {
            self.above_since = None;
            let since = *self.below_since.get_or_insert(now);
            // Far below (less than half): at once; a little below: once it lasted.
            if now - since >= DOWN_AFTER_S || video_bps < current.min_bps / 2 {
                self.rung = RUNGS
                    .iter()
                    .position(|r| video_bps >= r.min_bps)
                    .unwrap_or(RUNGS.len() - 1);
                self.below_since = None;
            }
        } else if self.rung > 0 && f64::from(video_bps) >= f64::from(RUNGS[self.rung - 1].min_bps) * UP_MARGIN {
            self.below_since = None;
            let since = *self.above_since.get_or_insert(now);
            if now - since >= UP_AFTER_S {
                self.rung -= 1;
                self.above_since = None;
            }
        } else {
            self.below_since = None;
            self.above_since = None;
        }
        RUNGS[self.rung]
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // rung frame rates are exact constants
mod test {
    use super::*;

    #[test]
    fn audio_comes_first() {
        assert_eq!(video_share(500_000.0, 74_000.0), 376_000);
        assert_eq!(
            video_share(60_000.0, 74_000.0),
            0,
            "audio alone exceeds the link: no video"
        );
    }

    #[test]
    fn pictures_fit_their_rung() {
        assert_eq!(fit(640, 480, 1280 * 720), (640, 480), "never scaled up");
        let (w, h) = fit(1280, 720, 640 * 360);
        assert_eq!((w, h), (640, 360));
        let (w, h) = fit(640, 480, 480 * 360);
        assert!(
            w * h <= 480 * 360 && w % 2 == 0 && h % 2 == 0 && (f64::from(w) / f64::from(h) - 4.0 / 3.0).abs() < 0.02
        );
    }

    #[test]
    fn the_ladder_steps_down_soon_and_up_late() {
        let mut ladder = Ladder::new(1_500_000);
        assert_eq!(ladder.rung().max_pixels, 1280 * 720);
        // 1 Mbit/s: a little below 1.2 M, so after a second, on the 960x540 rung.
        assert_eq!(ladder.update(0.0, 1_000_000).max_pixels, 1280 * 720);
        assert_eq!(ladder.update(0.5, 1_000_000).max_pixels, 1280 * 720);
        assert_eq!(ladder.update(1.0, 1_000_000).max_pixels, 960 * 540);
        // Far below (under half the rung) at once: 100 k lands on the 80 k rung.
        assert_eq!(ladder.update(1.1, 100_000).fps, 20.0);
        // Back up one rung only after UP_AFTER_S comfortably above it.
        assert_eq!(ladder.update(2.0, 200_000).max_pixels, 320 * 240);
        assert_eq!(ladder.update(5.9, 200_000).max_pixels, 320 * 240);
        assert_eq!(ladder.update(6.0, 200_000).max_pixels, 480 * 360);
        // A dip resets the climb.
        let mut ladder = Ladder::new(100_000);
        ladder.update(0.0, 400_000);
        ladder.update(3.0, 150_000);
        assert_eq!(
            ladder.update(4.5, 400_000).max_pixels,
            320 * 240,
            "the 4 s started again at 4.5"
        );
    }
}
