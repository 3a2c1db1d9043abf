//! GPUs through NVML (the NVIDIA management library, loaded at run time): what the
//! machine has, and how busy each GPU is while a command runs. Without the library or
//! a driver there are simply no GPUs — never an error.

use nvml_wrapper::Nvml;
use serde_json::{Value, json};

/// An open NVML session; `None` when the library or driver is absent.
pub struct Gpus {
    nvml: Nvml,
}

/// One reading of one GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuSample {
    pub index: u32,
    /// Percent of time a kernel ran over the last sample period.
    pub utilization_percent: u32,
    pub memory_used_bytes: u64,
}

impl Gpus {
    pub fn open() -> Option<Gpus> {
        Nvml::init().ok().map(|nvml| Gpus { nvml })
    }

    /// Model, memory and identity of each GPU, with the driver and CUDA versions.
    pub fn describe(&self) -> Value {
        let driver = self.nvml.sys_driver_version().ok();
        let cuda = self.nvml.sys_cuda_driver_version().ok().map(|v| format!("{}.{}", v / 1000, (v % 1000) / 10));
        let count = self.nvml.device_count().unwrap_or(0);
        let devices: Vec<Value> = (0..count)
            .filter_map(|i| {
                let d = self.nvml.device_by_index(i).ok()?;
                Some(json!({
                    "index": i,
                    "name": d.name().ok(),
                    "uuid": d.uuid().ok(),
                    "memory_bytes": d.memory_info().ok().map(|m| m.total),
                    "driver": driver,
                    "cuda": cuda,
                }))
            })
            .collect();
        Value::Array(devices)
    }

    /// Utilisation and memory in use of every GPU now.
    pub fn sample(&self) -> Vec<GpuSample> {
        let count = self.nvml.device_count().unwrap_or(0);
        (0..count)
            .filter_map(|i| {
                let d = self.nvml.device_by_index(i).ok()?;
                Some(GpuSample {
                    index: i,
                    utilization_percent: d.utilization_rates().ok()?.gpu,
                    memory_used_bytes: d.memory_info().ok()?.used,
                })
            })
            .collect()
    }
}

/// The machine's GPUs as recorded on a run: an empty list when there are none.
pub fn describe() -> Value {
    Gpus::open().map(|g| g.describe()).unwrap_or_else(|| json!([]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_driver_means_no_gpus_not_an_error() {
        // On a machine without NVIDIA's driver this is `[]`; with one, every entry names a model.
        let gpus = super::describe();
        for g in gpus.as_array().expect("a list") {
            assert!(g["name"].is_string(), "{g}");
        }
    }
}
