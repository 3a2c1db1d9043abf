use crate::names::{MAX_NAME_LEN, validate_text};
use crate::{DomainError, Millis};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A metric key such as `val/acc`: non-empty, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MetricKey(String);

impl MetricKey {
    pub fn parse(s: impl Into<String>) -> Result<Self, DomainError> {
        let s = s.into();
        if s.is_empty() {
            return Err(DomainError::invalid("metric key", "must not be empty"));
        }
        validate_text("metric key", &s, MAX_NAME_LEN, false)?;
        Ok(MetricKey(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for MetricKey {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        MetricKey::parse(s)
    }
}
impl From<MetricKey> for String {
    fn from(k: MetricKey) -> String {
        k.0
    }
}

/// One logged value. NaN and ±infinity are legitimate values (a diverged loss) and are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricPoint {
    pub key: MetricKey,
    #[serde(default)]
    pub step: i64,
    #[serde(with = "float")]
    pub value: f64,
    /// Wall time; the server fills it in when the client leaves it out.
    #[serde(default)]
    pub timestamp: Option<Millis>,
}

/// A series in columnar form: the shape used on the wire for history reads and bulk
/// ingestion, since it is several times smaller and faster than an array of objects.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricSeries {
    pub steps: Vec<i64>,
    #[serde(with = "float::vec")]
    pub values: Vec<f64>,
    pub timestamps: Vec<Millis>,
}

impl MetricSeries {
    pub fn len(&self) -> usize {
        self.steps.len()
    }
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
    pub fn push(&mut self, step: i64, value: f64, ts: Millis) {
        self.steps.push(step);
        self.values.push(value);
        self.timestamps.push(ts);
    }
    pub fn check_lengths(&self) -> Result<(), DomainError> {
        if self.values.len() != self.steps.len() || self.timestamps.len() != self.steps.len() {
            return Err(DomainError::invalid(
                "metric series",
                format!(
                    "steps, values and timestamps must have the same length (got {}, {}, {})",
                    self.steps.len(),
                    self.values.len(),
                    self.timestamps.len()
                ),
            ));
        }
        Ok(())
    }
}

/// What search and tables use: kept current on every write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    pub key: String,
    pub count: i64,
    #[serde(with = "float")]
    pub last: f64,
    pub last_step: i64,
    pub last_timestamp: Millis,
    /// Smallest and largest non-NaN values, with the step where they occurred.
    #[serde(with = "float::option")]
    pub min: Option<f64>,
    pub min_step: Option<i64>,
    #[serde(with = "float::option")]
    pub max: Option<f64>,
    pub max_step: Option<i64>,
}

impl MetricSummary {
    /// Folds new points (in logging order) into a summary.
    pub fn fold(prev: Option<MetricSummary>, key: &str, series: &MetricSeries) -> MetricSummary {
        let mut s = prev.unwrap_or(MetricSummary {
            key: key.to_owned(),
            count: 0,
            last: f64::NAN,
            last_step: i64::MIN,
            last_timestamp: 0,
            min: None,
            min_step: None,
            max: None,
            max_step: None,
        });
        for i in 0..series.len() {
            let (step, v, ts) = (series.steps[i], series.values[i], series.timestamps[i]);
            s.count += 1;
            // "last" is the value at the highest step, then the latest time, then the
            // greatest value, whatever order they were written in (MLflow's latest metric:
            // a backfilled point at an older time does not replace it).
            let later = match step.cmp(&s.last_step) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Equal => match ts.cmp(&s.last_timestamp) {
                    std::cmp::Ordering::Greater => true,
                    std::cmp::Ordering::Less => false,
                    std::cmp::Ordering::Equal => v > s.last || (s.last.is_nan() && !v.is_nan()),
                },
            };
            if s.count == 1 || later {
                s.last = v;
                s.last_step = step;
                s.last_timestamp = ts;
            }
            if !v.is_nan() {
                if s.min.is_none_or(|m| v < m) {
                    s.min = Some(v);
                    s.min_step = Some(step);
                }
                if s.max.is_none_or(|m| v > m) {
                    s.max = Some(v);
                    s.max_step = Some(step);
                }
            }
        }
        s
    }
}

/// Serde helpers writing non-finite floats as the strings "NaN", "Infinity" and
/// "-Infinity" (JSON has no literal for them) and reading those back, plus plain numbers.
pub mod float {
    use super::*;

    fn name(v: f64) -> &'static str {
        if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
    }

    pub fn parse_name(s: &str) -> Option<f64> {
        match s.to_ascii_lowercase().as_str() {
            "nan" => Some(f64::NAN),
            "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
            "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        }
    }

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() { s.serialize_f64(*v) } else { s.serialize_str(name(*v)) }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Num(f64),
        Str(String),
    }

    fn from_wire<E: serde::de::Error>(w: Wire) -> Result<f64, E> {
        match w {
            Wire::Num(v) => Ok(v),
            Wire::Str(s) => parse_name(&s).ok_or_else(|| {
                E::custom(format!("expected a number or one of \"NaN\", \"Infinity\", \"-Infinity\", got \"{s}\""))
            }),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        from_wire(Wire::deserialize(d)?)
    }

    pub mod option {
        use super::*;
        pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => super::serialize(v, s),
                None => s.serialize_none(),
            }
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            Option::<Wire>::deserialize(d)?.map(from_wire).transpose()
        }
    }

    pub mod vec {
        use super::*;
        use serde::ser::SerializeSeq;

        struct Item(f64);
        impl Serialize for Item {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                super::serialize(&self.0, s)
            }
        }
        struct DeItem(f64);
        impl<'de> Deserialize<'de> for DeItem {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                super::deserialize(d).map(DeItem)
            }
        }

        pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for x in v {
                seq.serialize_element(&Item(*x))?;
            }
            seq.end()
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Vec<f64>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a list of numbers")
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f64>, A::Error> {
                    let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                    while let Some(DeItem(x)) = seq.next_element()? {
                        out.push(x);
                    }
                    Ok(out)
                }
            }
            d.deserialize_seq(V)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_survive_json() {
        let p = MetricPoint {
            key: MetricKey::parse("loss").unwrap(),
            step: 3,
            value: f64::NEG_INFINITY,
            timestamp: Some(5),
        };
        let text = serde_json::to_string(&p).unwrap();
        assert!(text.contains("\"-Infinity\""), "{text}");
        let back: MetricPoint = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
        let s: MetricSeries =
            serde_json::from_str(r#"{"steps":[1,2,3],"values":[1.5,"NaN","inf"],"timestamps":[0,0,0]}"#).unwrap();
        assert!(s.values[1].is_nan());
        assert_eq!(s.values[2], f64::INFINITY);
        let err = serde_json::from_str::<MetricSeries>(r#"{"steps":[1],"values":["x"],"timestamps":[0]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("got \"x\""), "{err}");
    }

    #[test]
    fn summary_tracks_last_min_max_ignoring_nan() {
        let mut s = MetricSeries::default();
        for (step, v) in [(0, 3.0), (1, f64::NAN), (2, 1.0), (3, 5.0), (4, 2.0)] {
            s.push(step, v, step * 10);
        }
        let sum = MetricSummary::fold(None, "loss", &s);
        assert_eq!((sum.count, sum.last, sum.last_step), (5, 2.0, 4));
        assert_eq!((sum.min, sum.min_step), (Some(1.0), Some(2)));
        assert_eq!((sum.max, sum.max_step), (Some(5.0), Some(3)));
        // A late point at an earlier step does not become "last".
        let mut late = MetricSeries::default();
        late.push(1, 0.5, 99);
        let sum = MetricSummary::fold(Some(sum), "loss", &late);
        assert_eq!((sum.count, sum.last, sum.min), (6, 2.0, Some(0.5)));
    }
}
