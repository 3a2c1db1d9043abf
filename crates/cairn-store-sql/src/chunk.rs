//! Packing of metric points into chunk rows: little-endian i64 steps, f64 values
//! (NaN and infinities kept bit for bit) and i64 timestamps.

/// New chunks hold at most this many points.
pub const CHUNK_MAX: usize = 16_384;
/// A last chunk smaller than this is merged with the next append, so that many small
/// batches (an SDK flushing every second) do not leave thousands of tiny rows.
pub const MERGE_BELOW: usize = 4_096;

pub fn encode_i64(v: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 8);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

pub fn encode_f64(v: &[f64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 8);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

pub fn decode_i64(b: &[u8], out: &mut Vec<i64>) {
    out.extend(
        b.chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))),
    );
}

pub fn decode_f64(b: &[u8], out: &mut Vec<f64>) {
    out.extend(
        b.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_bits() {
        let v = [1.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0];
        let mut back = Vec::new();
        decode_f64(&encode_f64(&v), &mut back);
        assert_eq!(v.len(), back.len());
        for (a, b) in v.iter().zip(&back) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        let s = [i64::MIN, -1, 0, 7, i64::MAX];
        let mut back = Vec::new();
        decode_i64(&encode_i64(&s), &mut back);
        assert_eq!(&s[..], &back[..]);
    }
}
