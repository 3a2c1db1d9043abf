//! Hand-written JSON for metric histories: the largest answers the server gives (a
//! million-point series is ~40 MB of JSON). Numbers are formatted straight into one
//! buffer with `itoa`/`ryu` — the formatters serde_json itself uses — and long series
//! format their values on a second thread while this one writes steps and times.
//! The output is exactly what serialising [`History`] with serde would give.

use crate::service::History;

/// Series at least this long format their values in parallel.
const PARALLEL_FROM: usize = 50_000;

fn write_ints(out: &mut Vec<u8>, v: &[i64]) {
    let mut buf = itoa::Buffer::new();
    out.push(b'[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(buf.format(*x).as_bytes());
    }
    out.push(b']');
}

fn write_floats(out: &mut Vec<u8>, v: &[f64]) {
    let mut buf = ryu::Buffer::new();
    out.push(b'[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_float(out, &mut buf, *x);
    }
    out.push(b']');
}

fn write_history(out: &mut Vec<u8>, h: &History) {
    write_head(out, h);
    let s = &h.series;
    let mut values = Vec::new();
    let write_rest = |out: &mut Vec<u8>| {
        out.extend_from_slice(b",\"steps\":");
        write_ints(out, &s.steps);
        out.extend_from_slice(b",\"timestamps\":");
        write_ints(out, &s.timestamps);
    };
    if s.len() >= PARALLEL_FROM {
        std::thread::scope(|scope| {
            let handle = scope.spawn(|| {
                let mut v = Vec::with_capacity(s.len() * 20);
                write_floats(&mut v, &s.values);
                v
            });
            write_rest(out);
            values = handle.join().expect("formatting floats does not panic");
        });
    } else {
        write_rest(out);
        write_floats(&mut values, &s.values);
    }
    out.extend_from_slice(b",\"values\":");
    out.extend_from_slice(&values);
    out.push(b'}');
}

/// Pieces of a streamed body are about this big.
const PIECE: usize = 256 * 1024;

/// One history as a JSON object, streamed: sending starts at once and overlaps the
/// formatting, and no buffer of the whole body is ever built.
pub fn history_stream(h: History) -> tokio_stream::wrappers::ReceiverStream<Result<bytes::Bytes, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::task::spawn_blocking(move || {
        let send = |piece: Vec<u8>| tx.blocking_send(Ok(bytes::Bytes::from(piece))).is_ok();
        let s = &h.series;
        std::thread::scope(|scope| {
            // Values take the longest to format: do them beside the rest.
            let values = scope.spawn(|| {
                let mut pieces = Vec::new();
                let mut buf = ryu::Buffer::new();
                let mut cur = Vec::with_capacity(PIECE + 32);
                cur.extend_from_slice(b",\"values\":[");
                for (i, x) in s.values.iter().enumerate() {
                    if i > 0 {
                        cur.push(b',');
                    }
                    write_float(&mut cur, &mut buf, *x);
                    if cur.len() >= PIECE {
                        pieces.push(std::mem::replace(&mut cur, Vec::with_capacity(PIECE + 32)));
                    }
                }
                cur.extend_from_slice(b"]}");
                pieces.push(cur);
                pieces
            });
            let mut cur = Vec::with_capacity(PIECE + 32);
            write_head(&mut cur, &h);
            for (name, ints) in [(&b",\"steps\":["[..], &s.steps), (&b"],\"timestamps\":["[..], &s.timestamps)] {
                cur.extend_from_slice(name);
                let mut buf = itoa::Buffer::new();
                for (i, x) in ints.iter().enumerate() {
                    if i > 0 {
                        cur.push(b',');
                    }
                    cur.extend_from_slice(buf.format(*x).as_bytes());
                    if cur.len() >= PIECE && !send(std::mem::replace(&mut cur, Vec::with_capacity(PIECE + 32))) {
                        return;
                    }
                }
            }
            cur.push(b']');
            if !send(cur) {
                return;
            }
            for piece in values.join().expect("formatting floats does not panic") {
                if !send(piece) {
                    return;
                }
            }
        });
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

fn write_head(out: &mut Vec<u8>, h: &History) {
    out.extend_from_slice(b"{\"run\":\"");
    out.extend_from_slice(h.run.to_string().as_bytes());
    out.extend_from_slice(b"\",\"key\":");
    // Keys are arbitrary text: let serde_json do the escaping.
    serde_json::to_writer(&mut *out, &h.key).expect("writing to a Vec cannot fail");
    out.extend_from_slice(if h.downsampled { b",\"downsampled\":true" } else { b",\"downsampled\":false" });
    out.extend_from_slice(b",\"total\":");
    out.extend_from_slice(itoa::Buffer::new().format(h.total).as_bytes());
}

fn write_float(out: &mut Vec<u8>, buf: &mut ryu::Buffer, x: f64) {
    if x.is_finite() {
        out.extend_from_slice(buf.format_finite(x).as_bytes());
    } else if x.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if x > 0.0 {
        out.extend_from_slice(b"\"Infinity\"");
    } else {
        out.extend_from_slice(b"\"-Infinity\"");
    }
}

/// `{"series": [history, …]}`.
pub fn histories(hs: &[History]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + hs.iter().map(|h| 64 + h.series.len() * 36).sum::<usize>());
    out.extend_from_slice(b"{\"series\":[");
    for (i, h) in hs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_history(&mut out, h);
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_domain::{MetricSeries, RunId};

    fn sample(n: usize) -> History {
        let mut s = MetricSeries::default();
        for i in 0..n {
            let v = match i % 7 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                3 => 1e-300,
                4 => -0.0,
                _ => i as f64 * 0.37,
            };
            s.push(i as i64 - 3, v, 1_700_000_000_000 + i as i64);
        }
        History {
            run: RunId(uuid::Uuid::from_u128(7)),
            key: "val/\"acc\"\n".into(),
            downsampled: n.is_multiple_of(2),
            total: 99,
            series: s,
        }
    }

    #[test]
    fn matches_serde_exactly() {
        for n in [0, 5, PARALLEL_FROM + 3] {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let body: Vec<u8> = rt.block_on(async {
                use futures::StreamExt;
                let pieces: Vec<_> = history_stream(sample(n)).collect().await;
                pieces.into_iter().flat_map(|p| p.unwrap().to_vec()).collect()
            });
            let ours: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(ours, serde_json::to_value(sample(n)).unwrap(), "streamed, n = {n}");
        }
        let hs = vec![sample(3), sample(4), sample(PARALLEL_FROM + 1)];
        let ours: serde_json::Value = serde_json::from_slice(&histories(&hs)).unwrap();
        assert_eq!(ours, serde_json::json!({ "series": hs }));
    }
}
