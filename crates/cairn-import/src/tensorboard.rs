//! TensorBoard logs (`cairn import tensorboard LOGDIR`): every folder holding
//! `events.out.tfevents.*` files is a run. Its scalars become metrics, each point with
//! its step and wall time; the hparams plugin's session data become its config. An event
//! file is a TFRecord stream of `Event` protos: each record is checked (the CRC-32C of
//! its length and of its data) before it is decoded, and a file that fails is listed,
//! with its run left out whole, never half imported.

use crate::{ImportError, Point, Result, Source, SourceProject, SourceRun};
use cairn_domain::{MetricKey, RunStatus};
use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[allow(clippy::all, missing_docs)]
mod pb {
    include!(concat!(env!("OUT_DIR"), "/tensorboard.rs"));
}

/// What a log folder holds.
#[derive(Debug, Default)]
pub struct Read {
    pub source: Source,
    /// Event files that could not be read, each with why; their runs are left out.
    pub bad_files: Vec<String>,
    /// What was read but not imported (images, histograms, a record cut short while
    /// its writer was still running).
    pub notes: Vec<String>,
}

/// CRC-32C (Castagnoli), as TFRecord frames use it, masked as TFRecord masks it.
fn masked_crc(data: &[u8]) -> u32 {
    const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    let c = CASTAGNOLI.checksum(data);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// The records of one TFRecord stream. A record cut short at the very end (its writer
/// was still writing) ends the stream without an error; a wrong checksum anywhere is an
/// error naming the record.
fn records(bytes: &[u8]) -> std::result::Result<(Vec<&[u8]>, bool), String> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < 12 {
            return Ok((out, true));
        }
        let len_bytes = &rest[..8];
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
        let len_crc = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes"));
        if masked_crc(len_bytes) != len_crc {
            return Err(format!("record {} at byte {at}: its length fails its checksum", out.len() + 1));
        }
        let Some(end) = usize::try_from(len).ok().and_then(|l| l.checked_add(16)).filter(|e| *e <= rest.len()) else {
            return Ok((out, true));
        };
        let data = &rest[12..end - 4];
        let data_crc = u32::from_le_bytes(rest[end - 4..end].try_into().expect("4 bytes"));
        if masked_crc(data) != data_crc {
            return Err(format!("record {} at byte {at}: its data fails its checksum", out.len() + 1));
        }
        out.push(data);
        at += end;
    }
    Ok((out, false))
}

/// A scalar tensor's one value, whatever its type.
fn tensor_scalar(t: &pb::Tensor) -> Option<f64> {
    let shape_is_scalar = t.tensor_shape.as_ref().is_none_or(|s| s.dim.iter().all(|d| d.size == 1));
    if !shape_is_scalar {
        return None;
    }
    let first = |n: usize| t.tensor_content.get(..n);
    match t.dtype {
        1 => t
            .float_val
            .first()
            .map(|v| f64::from(*v))
            .or_else(|| first(4).map(|b| f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes"))))),
        2 => t.double_val.first().copied().or_else(|| first(8).map(|b| f64::from_le_bytes(b.try_into().expect("8")))),
        3 => t
            .int_val
            .first()
            .map(|v| f64::from(*v))
            .or_else(|| first(4).map(|b| f64::from(i32::from_le_bytes(b.try_into().expect("4 bytes"))))),
        9 => t
            .int64_val
            .first()
            .map(|v| *v as f64)
            .or_else(|| first(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64)),
        10 => t.bool_val.first().map(|v| f64::from(u8::from(*v))),
        19 => t
            .half_val
            .first()
            .map(|v| half_to_f64(*v as u16))
            .or_else(|| first(2).map(|b| half_to_f64(u16::from_le_bytes(b.try_into().expect("2 bytes"))))),
        _ => None,
    }
}

/// An IEEE half-precision float's value.
fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

/// What one run folder's event files hold.
#[derive(Default)]
struct RunData {
    metrics: BTreeMap<String, Vec<Point>>,
    hparams: serde_json::Map<String, serde_json::Value>,
    first: Option<i64>,
    last: Option<i64>,
    skipped: BTreeMap<String, usize>,
    cut_short: Vec<String>,
}

fn read_file(path: &Path, run: &mut RunData) -> std::result::Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let (recs, cut) = records(&bytes)?;
    if cut {
        run.cut_short.push(path.display().to_string());
    }
    // A tag's plugin is written with its first value only.
    let mut plugin_of: BTreeMap<String, String> = BTreeMap::new();
    for (i, data) in recs.iter().enumerate() {
        let event =
            pb::Event::decode(*data).map_err(|e| format!("record {} is not a TensorBoard event: {e}", i + 1))?;
        let at = (event.wall_time * 1000.0).round() as i64;
        let Some(pb::event::What::Summary(summary)) = event.what else { continue };
        run.first = Some(run.first.map_or(at, |f| f.min(at)));
        run.last = Some(run.last.map_or(at, |l| l.max(at)));
        for v in summary.value {
            if let Some(p) = v.metadata.as_ref().and_then(|m| m.plugin_data.as_ref()) {
                plugin_of.insert(v.tag.clone(), p.plugin_name.clone());
                if p.plugin_name == "hparams" {
                    let data = pb::HParamsPluginData::decode(p.content.as_slice())
                        .map_err(|e| format!("record {}: the hparams of '{}' do not decode: {e}", i + 1, v.tag))?;
                    if let Some(pb::h_params_plugin_data::Data::SessionStartInfo(s)) = data.data {
                        for (k, val) in s.hparams {
                            let json = match val.kind {
                                Some(pb::h_param_value::Kind::NumberValue(n)) => serde_json::Number::from_f64(n)
                                    .map_or_else(
                                        || serde_json::Value::String(n.to_string()),
                                        |x| {
                                            // Whole numbers read back as integers (batch_size = 32).
                                            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                                                serde_json::Value::from(n as i64)
                                            } else {
                                                serde_json::Value::Number(x)
                                            }
                                        },
                                    ),
                                Some(pb::h_param_value::Kind::StringValue(t)) => serde_json::Value::String(t),
                                Some(pb::h_param_value::Kind::BoolValue(b)) => serde_json::Value::Bool(b),
                                _ => serde_json::Value::Null,
                            };
                            run.hparams.insert(k, json);
                        }
                    }
                    continue;
                }
            }
            let value = match &v.value {
                Some(pb::summary_value::Value::SimpleValue(x)) => Some(f64::from(*x)),
                Some(pb::summary_value::Value::Tensor(t)) => match plugin_of.get(&v.tag).map(String::as_str) {
                    Some("scalars") | None => tensor_scalar(t),
                    Some(_) => None,
                },
                None => None,
            };
            let Some(value) = value else {
                let kind = plugin_of.get(&v.tag).cloned().unwrap_or_else(|| "other".into());
                *run.skipped.entry(kind).or_default() += 1;
                continue;
            };
            MetricKey::parse(v.tag.clone()).map_err(|e| format!("the tag '{}' cannot be a metric key: {e}", v.tag))?;
            run.metrics.entry(v.tag).or_default().push(Point { step: event.step, value, timestamp: at });
        }
    }
    Ok(())
}

/// Every event file under `logdir`, grouped by the folder holding it.
fn event_files(logdir: &Path) -> Result<BTreeMap<PathBuf, Vec<PathBuf>>> {
    let mut out: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    let mut dirs = vec![logdir.to_owned()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| ImportError::Io { path: dir.clone(), source })?;
        for e in entries {
            let e = e.map_err(|source| ImportError::Io { path: dir.clone(), source })?;
            let ft = e.file_type().map_err(|source| ImportError::Io { path: e.path(), source })?;
            if ft.is_dir() {
                dirs.push(e.path());
            } else if ft.is_file() && e.file_name().to_string_lossy().contains("tfevents") {
                out.entry(dir.clone()).or_default().push(e.path());
            }
        }
    }
    for files in out.values_mut() {
        // Writers name their files by start time: read them in that order.
        files.sort();
    }
    Ok(out)
}

/// Reads a TensorBoard log folder into runs of `project`.
pub fn read(logdir: &Path, project: &str) -> Result<Read> {
    if !logdir.is_dir() {
        return Err(ImportError::Invalid(format!("{} is not a folder of TensorBoard logs", logdir.display())));
    }
    let groups = event_files(logdir)?;
    if groups.is_empty() {
        return Err(ImportError::Invalid(format!(
            "{} holds no TensorBoard event files (events.out.tfevents.*)",
            logdir.display()
        )));
    }
    let mut out = Read::default();
    let root_name = logdir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "run".into());
    for (dir, files) in groups {
        let rel: String = dir
            .strip_prefix(logdir)
            .unwrap_or(&dir)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let name = if rel.is_empty() { root_name.clone() } else { rel.clone() };
        let mut data = RunData::default();
        let mut bad = false;
        for f in &files {
            if let Err(why) = read_file(f, &mut data) {
                out.bad_files.push(format!("{}: {why}", f.display()));
                bad = true;
            }
        }
        if bad {
            out.notes.push(format!("run '{name}' left out: one of its event files is bad (listed)"));
            continue;
        }
        for (kind, n) in &data.skipped {
            out.notes.push(format!("run '{name}': {n} {kind} value(s) are not scalars and were not imported"));
        }
        for f in &data.cut_short {
            out.notes.push(format!("{f}: its last record is cut short (still being written?); read up to it"));
        }
        if data.metrics.is_empty() && data.hparams.is_empty() {
            out.notes.push(format!("run '{name}': no scalars or hparams; nothing to import"));
            continue;
        }
        // The folder is the run's identity: importing again is the same run.
        let identity = format!("tensorboard\u{1f}{project}\u{1f}{rel}");
        let id = crate::stable_id(&identity);
        let run = SourceRun {
            id,
            project: project.to_owned(),
            name: Some(name),
            status: Some(RunStatus::Finished),
            created_at: data.first,
            ended_at: data.last,
            params: data.hparams,
            tags: [("tensorboard.logdir".to_owned(), rel.clone())].into(),
            metrics: data.metrics,
            ..Default::default()
        };
        out.source.runs.push(run);
    }
    out.source.projects.push(SourceProject { name: project.to_owned(), ..Default::default() });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One TFRecord frame around `data`.
    fn frame(data: &[u8]) -> Vec<u8> {
        let len = (data.len() as u64).to_le_bytes();
        let mut out = len.to_vec();
        out.extend(masked_crc(&len).to_le_bytes());
        out.extend(data);
        out.extend(masked_crc(data).to_le_bytes());
        out
    }

    fn scalar(step: i64, wall: f64, tag: &str, v: f32) -> Vec<u8> {
        let value =
            pb::SummaryValue { tag: tag.into(), metadata: None, value: Some(pb::summary_value::Value::SimpleValue(v)) };
        let e = pb::Event {
            wall_time: wall,
            step,
            what: Some(pb::event::What::Summary(pb::Summary { value: vec![value] })),
        };
        frame(&e.encode_to_vec())
    }

    #[test]
    fn the_crc_is_tfrecords() {
        // CRC-32C of "123456789" is e3069283, the catalogue's check value.
        const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
        assert_eq!(CASTAGNOLI.checksum(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn scalars_become_points_and_bad_files_leave_their_run_out() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("lr-0.1");
        std::fs::create_dir_all(&good).unwrap();
        let mut bytes = scalar(0, 1_700_000_000.0, "loss", 2.0);
        bytes.extend(scalar(1, 1_700_000_001.5, "loss", 1.5));
        // A record cut short at the end: read up to it.
        bytes.extend(&scalar(2, 1_700_000_002.0, "loss", 1.0)[..10]);
        std::fs::write(good.join("events.out.tfevents.1.host"), &bytes).unwrap();
        let broken = dir.path().join("broken");
        std::fs::create_dir_all(&broken).unwrap();
        let mut bad = scalar(0, 1_700_000_000.0, "acc", 0.5);
        let n = bad.len();
        bad[n - 6] ^= 0xff;
        std::fs::write(broken.join("events.out.tfevents.2.host"), &bad).unwrap();
        let read = read(dir.path(), "tb").unwrap();
        assert_eq!(read.source.runs.len(), 1);
        let run = &read.source.runs[0];
        assert_eq!(run.name.as_deref(), Some("lr-0.1"));
        let loss: Vec<(i64, f64, i64)> = run.metrics["loss"].iter().map(|p| (p.step, p.value, p.timestamp)).collect();
        assert_eq!(loss, vec![(0, 2.0, 1_700_000_000_000), (1, 1.5, 1_700_000_001_500)]);
        assert_eq!((run.created_at, run.ended_at), (Some(1_700_000_000_000), Some(1_700_000_001_500)));
        assert_eq!(read.bad_files.len(), 1);
        assert!(read.bad_files[0].contains("fails its checksum"), "{:?}", read.bad_files);
        assert!(read.notes.iter().any(|n| n.contains("cut short")), "{:?}", read.notes);
        let again = super::read(dir.path(), "tb").unwrap();
        assert_eq!(again.source.runs[0].id, run.id, "the same folder is the same run");
    }

    #[test]
    fn half_floats_read_back() {
        assert_eq!(half_to_f64(0x3c00), 1.0);
        assert_eq!(half_to_f64(0xc000), -2.0);
        assert_eq!(half_to_f64(0x3555), 0.333251953125);
        assert!(half_to_f64(0x7e00).is_nan());
    }
}
