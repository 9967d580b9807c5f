//! Cutting a stream of samples into frames of an exact size.

/// Accumulates interleaved samples and hands them out in frames of `frame_len` samples per channel.
pub struct Framer {
    frame_len: usize,
    channels: usize,
    buf: Vec<f32>,
    start: usize,
}

impl Framer {
    /// A framer producing frames of `frame_len` samples per channel for `channels` channels.
    #[must_use]
    pub fn new(frame_len: usize, channels: usize) -> Self {
        Self {
            frame_len,
            channels,
            buf: Vec::new(),
            start: 0,
        }
    }

    /// Samples per channel in each frame.
    #[must_use]
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Channel count.
    #[must_use]
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Appends interleaved samples.
    pub fn push(&mut self, samples: &[f32]) {
        self.buf.extend_from_slice(samples);
    }

    /// Samples per channel waiting for the next frame.
    #[must_use]
    pub fn buffered(&self) -> usize {
        (self.buf.len() - self.start) / self.channels
    }

    /// Removes and returns the next complete frame, if there is one.
    pub fn pop(&mut self) -> Option<Vec<f32>> {
        let n = self.frame_len * self.channels;
        if self.buf.len() - self.start < n {
            return None;
        }
        let frame = self.buf[self.start..self.start + n].to_vec();
        self.start += n;
        // Compact once the consumed part is at least half the buffer: each sample is then moved
        // at most once on average, however long the backlog (compacting every few frames moved a
        // backlog of N samples N/frame times: quadratic in a peer's burst).
        if self.start >= n * 8 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Some(frame)
    }

    /// Returns the partial frame (if any) padded with silence to full length, emptying the framer.
    pub fn pop_padded(&mut self) -> Option<Vec<f32>> {
        if let Some(frame) = self.pop() {
            return Some(frame);
        }
        if self.buffered() == 0 {
            return None;
        }
        let mut frame = self.buf[self.start..].to_vec();
        frame.resize(self.frame_len * self.channels, 0.0);
        self.clear();
        Some(frame)
    }

    /// Drops everything buffered.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are the point of these tests
mod test {
    use super::*;

    #[test]
    fn any_input_length_gives_exact_frames() {
        let mut f = Framer::new(960, 1);
        let mut frames = Vec::new();
        let mut next = 0.0f32;
        for len in [1, 959, 2000, 7, 3000, 313] {
            let chunk: Vec<f32> = (0..len).map(|i| next + i as f32).collect();
            next += len as f32;
            f.push(&chunk);
            while let Some(frame) = f.pop() {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 6280 / 960);
        assert!(frames.iter().all(|fr| fr.len() == 960));
        // Order is kept across pushes and compactions.
        let flat: Vec<f32> = frames.concat();
        assert!(flat.iter().enumerate().all(|(i, s)| *s == i as f32));
        assert_eq!(f.buffered(), 6280 % 960);
        let last = f.pop_padded().unwrap();
        assert_eq!(last.len(), 960);
        assert_eq!(last[6280 % 960], 0.0);
        assert!(f.pop_padded().is_none());
    }

    #[test]
    fn a_long_backlog_is_framed_in_linear_time() {
        // 10 minutes at 48 kHz in one push. Each compaction moves the samples still waiting; in
        // all, popping the backlog must move at most about as many samples as it holds (with
        // compaction every 8 frames it moved the backlog 3750 times over: quadratic in a burst).
        let total = 48_000 * 600;
        let mut f = Framer::new(960, 1);
        f.push(&vec![0.5; total]);
        let (mut frames, mut moved) = (0, 0);
        let mut len = f.buf.len();
        while f.pop().is_some() {
            frames += 1;
            if f.buf.len() < len {
                moved += f.buf.len();
            }
            len = f.buf.len();
        }
        assert_eq!(frames, total / 960);
        assert!(moved <= total, "moved {moved} samples to frame {total}");
    }

    #[test]
    fn stereo_frames_count_per_channel() {
        let mut f = Framer::new(4, 2);
        f.push(&[1.0; 10]);
        assert_eq!(f.pop().unwrap().len(), 8);
        assert_eq!(f.buffered(), 1);
    }
}
