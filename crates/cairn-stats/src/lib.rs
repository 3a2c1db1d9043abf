//! Numbers in, numbers out: downsampling of metric series for charts.
//!
//! Both reducers return *indices* into the input, strictly increasing, so callers can
//! pick the matching steps, values and timestamps from their own columns.
//!
//! - [`lttb_indices`]: largest-triangle-three-buckets, which keeps the visual shape of
//!   a line chart, plus the global minimum and maximum so a spike is never lost.
//! - [`minmax_indices`]: the minimum and maximum of each of `max_points / 2`
//!   equal-count buckets (an envelope, good for noisy series).

mod downsample;

pub use downsample::{lttb_indices, minmax_indices};
