//! Packing of metric points into chunk rows.
//!
//! Codec 0 (schema v1): little-endian i64 steps, f64 values, i64 timestamps.
//! Codec 1 (schema v2): integers (steps, timestamps) as a tagged block — an
//! arithmetic progression in 17 bytes (the usual case for steps) or zigzag-delta
//! varints (wall times: one or two bytes a point) — and values as tagged raw f64
//! (NaN and infinities kept bit for bit). Each codec-1 chunk also carries a level of
//! detail: for every [`LOD_BUCKET`] points, the points holding the bucket's smallest
//! and largest value, so chart reads of long series touch a sixteenth of the data and
//! never lose a spike.

use cairn_domain::MetricSeries;

/// New chunks hold at most this many points.
pub const CHUNK_MAX: usize = 16_384;
/// A last chunk smaller than this is merged with the next append, so that many small
/// batches (an SDK flushing every second) do not leave thousands of tiny rows.
pub const MERGE_BELOW: usize = 4_096;
/// Points per level-of-detail bucket (each keeps at most two points).
pub const LOD_BUCKET: usize = 32;

pub const CODEC_RAW: i64 = 0;
pub const CODEC_PACKED: i64 = 1;

const TAG_RAW: u8 = 0;
const TAG_ARITHMETIC: u8 = 1;
const TAG_DELTA_VARINT: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

fn bad(what: &str) -> CodecError {
    CodecError(format!("corrupt metric chunk: {what}"))
}

fn encode_i64_raw(v: &[i64], out: &mut Vec<u8>) {
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

pub fn decode_i64_raw(b: &[u8], out: &mut Vec<i64>) -> Result<(), CodecError> {
    if !b.len().is_multiple_of(8) {
        return Err(bad("integer block length"));
    }
    out.extend(b.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))));
    Ok(())
}

pub fn decode_f64_raw(b: &[u8], out: &mut Vec<f64>) -> Result<(), CodecError> {
    if !b.len().is_multiple_of(8) {
        return Err(bad("float block length"));
    }
    out.extend(b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))));
    Ok(())
}

/// Codec-1 integers: the smallest of the three tagged forms.
pub fn encode_ints(v: &[i64]) -> Vec<u8> {
    if v.len() >= 2 {
        let d = v[1].wrapping_sub(v[0]);
        if v.windows(2).all(|w| w[1].wrapping_sub(w[0]) == d) {
            let mut out = Vec::with_capacity(17);
            out.push(TAG_ARITHMETIC);
            out.extend_from_slice(&v[0].to_le_bytes());
            out.extend_from_slice(&d.to_le_bytes());
            out.extend_from_slice(&(v.len() as u64).to_le_bytes());
            return out;
        }
    }
    let mut out = Vec::with_capacity(1 + v.len() * 2);
    out.push(TAG_DELTA_VARINT);
    let mut prev = 0i64;
    for &x in v {
        let delta = x.wrapping_sub(prev);
        prev = x;
        let mut z = ((delta << 1) ^ (delta >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }
    if out.len() > 1 + v.len() * 8 {
        out.clear();
        out.push(TAG_RAW);
        encode_i64_raw(v, &mut out);
    }
    out
}

pub fn decode_ints(b: &[u8], out: &mut Vec<i64>) -> Result<(), CodecError> {
    let (&tag, rest) = b.split_first().ok_or_else(|| bad("empty integer block"))?;
    match tag {
        TAG_RAW => decode_i64_raw(rest, out),
        TAG_ARITHMETIC => {
            if rest.len() != 24 {
                return Err(bad("arithmetic block length"));
            }
            let word = |i: usize| i64::from_le_bytes(rest[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
            let (first, d, n) = (word(0), word(1), word(2) as usize);
            out.reserve(n);
            let mut x = first;
            for _ in 0..n {
                out.push(x);
                x = x.wrapping_add(d);
            }
            Ok(())
        }
        TAG_DELTA_VARINT => {
            let mut prev = 0i64;
            let mut z = 0u64;
            let mut shift = 0u32;
            for &byte in rest {
                if shift > 63 {
                    return Err(bad("varint too long"));
                }
                z |= u64::from(byte & 0x7f) << shift;
                if byte & 0x80 == 0 {
                    let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
                    prev = prev.wrapping_add(delta);
                    out.push(prev);
                    z = 0;
                    shift = 0;
                } else {
                    shift += 7;
                }
            }
            if shift != 0 {
                return Err(bad("truncated varint"));
            }
            Ok(())
        }
        _ => Err(bad("unknown integer encoding")),
    }
}

pub fn encode_values(v: &[f64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + v.len() * 8);
    out.push(TAG_RAW);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

pub fn decode_values(b: &[u8], out: &mut Vec<f64>) -> Result<(), CodecError> {
    match b.split_first() {
        Some((&TAG_RAW, rest)) => decode_f64_raw(rest, out),
        _ => Err(bad("unknown value encoding")),
    }
}

/// Encoded blobs of one chunk.
pub struct Blobs {
    pub steps: Vec<u8>,
    pub vals: Vec<u8>,
    pub ts: Vec<u8>,
}

pub fn encode_packed(s: &MetricSeries) -> Blobs {
    Blobs { steps: encode_ints(&s.steps), vals: encode_values(&s.values), ts: encode_ints(&s.timestamps) }
}

/// Appends a chunk's points to `out`, whatever its codec.
pub fn decode(codec: i64, b: &Blobs, out: &mut MetricSeries) -> Result<(), CodecError> {
    let before = out.len();
    match codec {
        CODEC_RAW => {
            decode_i64_raw(&b.steps, &mut out.steps)?;
            decode_f64_raw(&b.vals, &mut out.values)?;
            decode_i64_raw(&b.ts, &mut out.timestamps)?;
        }
        CODEC_PACKED => {
            decode_ints(&b.steps, &mut out.steps)?;
            decode_values(&b.vals, &mut out.values)?;
            decode_ints(&b.ts, &mut out.timestamps)?;
        }
        other => return Err(bad(&format!("unknown codec {other}"))),
    }
    let n = out.steps.len() - before;
    if out.values.len() - before != n || out.timestamps.len() - before != n {
        return Err(bad("columns of different lengths"));
    }
    Ok(())
}

/// The level of detail of a chunk: per bucket, the points with the smallest and the
/// largest value (NaN ignored; a bucket of NaNs keeps its first point), in order.
pub fn level_of_detail(s: &MetricSeries) -> MetricSeries {
    let mut lod = MetricSeries::default();
    let mut start = 0;
    while start < s.len() {
        let end = (start + LOD_BUCKET).min(s.len());
        let (mut lo, mut hi) = (None::<usize>, None::<usize>);
        for i in start..end {
            let v = s.values[i];
            if v.is_nan() {
                continue;
            }
            if lo.is_none_or(|j| v < s.values[j]) {
                lo = Some(i);
            }
            if hi.is_none_or(|j| v > s.values[j]) {
                hi = Some(i);
            }
        }
        let picks = match (lo, hi) {
            (Some(a), Some(b)) if a == b => vec![a],
            (Some(a), Some(b)) => vec![a.min(b), a.max(b)],
            _ => vec![start],
        };
        for i in picks {
            lod.push(s.steps[i], s.values[i], s.timestamps[i]);
        }
        start = end;
    }
    lod
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints_round_trip(v: &[i64]) -> usize {
        let enc = encode_ints(v);
        let mut back = Vec::new();
        decode_ints(&enc, &mut back).unwrap();
        assert_eq!(back, v);
        enc.len()
    }

    #[test]
    fn integer_blocks_round_trip_and_shrink() {
        let steps: Vec<i64> = (100..16_484).collect();
        assert_eq!(ints_round_trip(&steps), 25, "a progression costs 25 bytes");
        let ts: Vec<i64> = (0..10_000).map(|i| 1_700_000_000_000 + i * 37 + (i % 7)).collect();
        assert!(ints_round_trip(&ts) < 10_000 * 2 + 16, "wall times take about a byte each");
        ints_round_trip(&[]);
        ints_round_trip(&[5]);
        ints_round_trip(&[i64::MIN, i64::MAX, 0, -1, 1, i64::MIN]);
        let wild: Vec<i64> = (0..100).map(|i: i64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64)).collect();
        ints_round_trip(&wild);
    }

    #[test]
    fn values_keep_their_bits() {
        let v = [1.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0];
        let mut back = Vec::new();
        decode_values(&encode_values(&v), &mut back).unwrap();
        for (a, b) in v.iter().zip(&back) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }

    #[test]
    fn corrupt_blocks_are_errors_not_panics() {
        let mut out = Vec::new();
        assert!(decode_ints(&[], &mut out).is_err());
        assert!(decode_ints(&[9, 1, 2], &mut out).is_err());
        assert!(decode_ints(&[TAG_DELTA_VARINT, 0x80], &mut out).is_err());
        assert!(decode_ints(&[TAG_ARITHMETIC, 1, 2, 3], &mut out).is_err());
        assert!(decode_values(&[TAG_RAW, 1, 2, 3], &mut Vec::new()).is_err());
    }

    #[test]
    fn level_of_detail_keeps_every_bucket_extreme() {
        let mut s = MetricSeries::default();
        for i in 0..1000i64 {
            let v = if i == 517 {
                1e9
            } else if i == 3 {
                f64::NAN
            } else {
                (i as f64).sin()
            };
            s.push(i, v, i);
        }
        let lod = level_of_detail(&s);
        assert!(lod.len() <= 2 * 1000usize.div_ceil(LOD_BUCKET));
        assert!(lod.values.contains(&1e9));
        assert!(lod.steps.is_sorted());
        let min = s.values.iter().copied().filter(|v| !v.is_nan()).fold(f64::INFINITY, f64::min);
        assert!(lod.values.contains(&min));
    }
}
