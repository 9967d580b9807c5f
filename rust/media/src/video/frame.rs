//! I420 pictures and their conversion to and from packed 24-bit BGR/RGB.

use yuv::{
    bgr_to_yuv420, rgb_to_yuv420, yuv420_to_bgr, yuv420_to_rgb, BufferStoreMut, YuvConversionMode, YuvPlanarImage,
    YuvPlanarImageMut, YuvRange, YuvStandardMatrix,
};

use crate::Error;

/// A picture in I420 (YUV 4:2:0, planar), tightly packed: Y, then U, then V.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420 {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl I420 {
    /// A black picture.
    #[must_use]
    pub fn black(width: u32, height: u32) -> Self {
        let mut frame = Self {
            width,
            height,
            data: vec![0; Self::size(width, height)],
        };
        let luma = (width * height) as usize;
        frame.data[..luma].fill(16);
        frame.data[luma..].fill(128);
        frame
    }

    fn size(width: u32, height: u32) -> usize {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        (width * height + 2 * cw * ch) as usize
    }

    /// Builds a picture from planes with arbitrary strides (what decoders hand out).
    pub fn from_planes(width: u32, height: u32, planes: [&[u8]; 3], strides: [usize; 3]) -> Result<Self, Error> {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut data = Vec::with_capacity(Self::size(width, height));
        for (plane, (stride, (pw, ph))) in planes.iter().zip(strides.iter().zip([(w, h), (cw, ch), (cw, ch)])) {
            if *stride < pw || plane.len() < stride * (ph - 1) + pw {
                return Err(Error::BadVideo(format!(
                    "a decoded plane is too small for {width}x{height}"
                )));
            }
            for row in 0..ph {
                data.extend_from_slice(&plane[row * stride..row * stride + pw]);
            }
        }
        Ok(Self { width, height, data })
    }

    /// Width in pixels.
    #[must_use]
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    #[must_use]
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The luma plane.
    #[must_use]
    pub fn y(&self) -> &[u8] {
        &self.data[..(self.width * self.height) as usize]
    }

    /// `(Y, U, V)` planes.
    #[must_use]
    pub fn planes(&self) -> (&[u8], &[u8], &[u8]) {
        let luma = (self.width * self.height) as usize;
        let chroma = (self.width.div_ceil(2) * self.height.div_ceil(2)) as usize;
        let (y, rest) = self.data.split_at(luma);
        let (u, v) = rest.split_at(chroma);
        (y, u, v)
    }

    /// Row strides of the three planes (tight).
    #[must_use]
    pub fn strides(&self) -> (usize, usize, usize) {
        let cw = self.width.div_ceil(2) as usize;
        (self.width as usize, cw, cw)
    }

    /// The whole buffer, Y then U then V.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// Converts packed 24-bit pixels (`bgr`: blue first, else red first) to I420.
    pub fn from_packed(pixels: &[u8], width: u32, height: u32, bgr: bool) -> Result<Self, Error> {
        if width == 0 || height == 0 || pixels.len() != (width * height * 3) as usize {
            return Err(Error::BadVideo(format!(
                "a {width}x{height} picture needs {} bytes, got {}",
                width * height * 3,
                pixels.len()
            )));
        }
        let mut frame = Self {
            width,
            height,
            data: vec![0; Self::size(width, height)],
        };
        let luma = (width * height) as usize;
        let cw = width.div_ceil(2);
        let chroma = (cw * height.div_ceil(2)) as usize;
        let (y, rest) = frame.data.split_at_mut(luma);
        let (u, v) = rest.split_at_mut(chroma);
        let mut planar = YuvPlanarImageMut {
            y_plane: BufferStoreMut::Borrowed(y),
            y_stride: width,
            u_plane: BufferStoreMut::Borrowed(u),
            u_stride: cw,
            v_plane: BufferStoreMut::Borrowed(v),
            v_stride: cw,
            width,
            height,
        };
        let convert = if bgr { bgr_to_yuv420 } else { rgb_to_yuv420 };
        convert(
            &mut planar,
            pixels,
            width * 3,
            YuvRange::Limited,
            YuvStandardMatrix::Bt601,
            YuvConversionMode::Balanced,
        )
        .map_err(|e| Error::BadVideo(e.to_string()))?;
        Ok(frame)
    }

    /// Converts to packed 24-bit pixels (`bgr`: blue first, else red first).
    #[must_use]
    pub fn to_packed(&self, bgr: bool) -> Vec<u8> {
        let (y, u, v) = self.planes();
        let (ys, us, vs) = self.strides();
        let image = YuvPlanarImage {
            y_plane: y,
            y_stride: ys as u32,
            u_plane: u,
            u_stride: us as u32,
            v_plane: v,
            v_stride: vs as u32,
            width: self.width,
            height: self.height,
        };
        let mut out = vec![0u8; (self.width * self.height * 3) as usize];
        let convert = if bgr { yuv420_to_bgr } else { yuv420_to_rgb };
        // Sizes are consistent by construction, so the conversion cannot fail.
        convert(
            &image,
            &mut out,
            self.width * 3,
            YuvRange::Limited,
            YuvStandardMatrix::Bt601,
        )
        .expect("I420 planes match their dimensions");
        out
    }

    /// The picture scaled down to `width` x `height` (even, at most this picture's size), each
    /// output sample the mean of the source area it covers: a box filter, enough to send a smaller
    /// picture when the link cannot carry this one.
    #[must_use]
    pub fn scaled(&self, width: u32, height: u32) -> I420 {
        let (width, height) = (width.clamp(2, self.width) & !1, height.clamp(2, self.height) & !1);
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        let (sy, su, sv) = self.planes();
        let (sw, sh) = (self.width as usize, self.height as usize);
        let (scw, sch) = (sw.div_ceil(2), sh.div_ceil(2));
        let (dw, dh) = (width as usize, height as usize);
        let (dcw, dch) = (dw / 2, dh / 2);
        let mut data = Vec::with_capacity(Self::size(width, height));
        for (plane, (pw, ph), (ow, oh)) in [
            (sy, (sw, sh), (dw, dh)),
            (su, (scw, sch), (dcw, dch)),
            (sv, (scw, sch), (dcw, dch)),
        ] {
            for oy in 0..oh {
                let (y0, y1) = (oy * ph / oh, ((oy + 1) * ph / oh).max(oy * ph / oh + 1));
                for ox in 0..ow {
                    let (x0, x1) = (ox * pw / ow, ((ox + 1) * pw / ow).max(ox * pw / ow + 1));
                    let sum: u32 = (y0..y1)
                        .map(|row| {
                            plane[row * pw + x0..row * pw + x1]
                                .iter()
                                .map(|&v| u32::from(v))
                                .sum::<u32>()
                        })
                        .sum();
                    let n = ((y1 - y0) * (x1 - x0)) as u32;
                    data.push(((sum + n / 2) / n) as u8);
                }
            }
        }
        I420 { width, height, data }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::video::test_util::pattern;

    #[test]
    fn bgr_round_trip_is_close() {
        // Block edges on even pixels survive 4:2:0 (up to rounding). Odd sizes are checked with a
        // smooth picture: hard colour edges that straddle a chroma sample cannot survive 4:2:0.
        let smooth = |w: u32, h: u32| -> Vec<u8> {
            (0..w * h)
                .flat_map(|i| [(i % w * 200 / w) as u8 + 20, 120, (i / w * 200 / h) as u8 + 20])
                .collect()
        };
        for (w, h, max_allowed, mean_allowed) in [(640, 480, 6, 2.0), (33, 17, 12, 3.5)] {
            let bgr = if w % 2 == 0 {
                pattern(w, h, 0b1010_0110)
            } else {
                smooth(w, h)
            };
            let back = I420::from_packed(&bgr, w, h, true).unwrap().to_packed(true);
            let diffs: Vec<u8> = bgr.iter().zip(&back).map(|(a, b)| a.abs_diff(*b)).collect();
            let max = *diffs.iter().max().unwrap();
            let mean = diffs.iter().map(|d| f64::from(*d)).sum::<f64>() / diffs.len() as f64;
            assert!(
                max <= max_allowed && mean <= mean_allowed,
                "{w}x{h}: max {max}, mean {mean:.2}"
            );
        }
    }

    #[test]
    fn channel_order_is_respected() {
        // Pure blue in BGR order is [255, 0, 0]; read as RGB it would be red.
        let blue = [255u8, 0, 0].repeat(16 * 16);
        let frame = I420::from_packed(&blue, 16, 16, true).unwrap();
        let rgb = frame.to_packed(false);
        assert!(rgb[2] > 200 && rgb[0] < 40, "{:?}", &rgb[..3]);
        assert!(I420::from_packed(&blue[..10], 16, 16, true).is_err());
    }

    #[test]
    fn strided_planes_are_packed() {
        let y = vec![7u8; 10 * 4];
        let c = vec![9u8; 6 * 2];
        let f = I420::from_planes(8, 4, [&y, &c, &c], [10, 6, 6]).unwrap();
        assert_eq!(f.as_bytes().len(), 8 * 4 + 2 * 4 * 2);
        assert!(I420::from_planes(8, 4, [&y[..8], &c, &c], [10, 6, 6]).is_err());
        assert_eq!(I420::black(4, 4).y(), &[16u8; 16]);
    }

    #[test]
    fn scaling_down_keeps_the_picture() {
        let src = I420::from_packed(&crate::video::test_util::pattern(640, 480, 5), 640, 480, true).unwrap();
        let half = src.scaled(320, 240);
        assert_eq!((half.width(), half.height(), half.y().len()), (320, 240, 320 * 240));
        // Each half-size sample is the mean of a 2x2 block of the original.
        let (y, w) = (src.y(), 640);
        let expect = (u32::from(y[0]) + u32::from(y[1]) + u32::from(y[w]) + u32::from(y[w + 1]) + 2) / 4;
        assert_eq!(u32::from(half.y()[0]), expect);
        let odd = src.scaled(427, 241);
        assert_eq!((odd.width(), odd.height()), (426, 240), "even sizes, for H.264");
        assert_eq!(src.scaled(640, 480), src);
        assert_eq!(src.scaled(9999, 9999), src, "never scaled up");
    }
}
