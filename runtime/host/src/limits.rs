//! Per-job limits of the sandbox, configurable per connection under
//! `Connections.<id>.Limits`. Each limit's setting name is the one an error
//! message quotes when the limit is hit.

use std::time::Duration;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// `MaxMemoryMiB`: the guest's linear memory.
    pub max_memory_bytes: u64,
    /// `MaxGuestCpuSeconds`: time spent running guest code (host calls excluded).
    pub max_guest_cpu: Duration,
    /// `HostCallTimeoutSeconds`: one `invoke` or `next` call.
    pub host_call_timeout: Duration,
    /// `MaxLogKiB`: captured guest stdout and stderr, each.
    pub max_log_bytes: usize,
    /// `MaxBatchObjects`: objects returned by one `next` call.
    pub max_batch_objects: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory_bytes: 512 << 20,
            max_guest_cpu: Duration::from_secs(600),
            host_call_timeout: Duration::from_secs(300),
            max_log_bytes: 256 << 10,
            max_batch_objects: 4096,
        }
    }
}

impl Limits {
    /// Reads a `Limits` object; unknown keys are an error so a typo does not
    /// silently keep a default. Errors are (key, problem).
    pub fn from_json(value: &Value) -> Result<Limits, (String, String)> {
        let obj = value
            .as_object()
            .ok_or_else(|| ("".to_string(), "must be an object".to_string()))?;
        let mut limits = Limits::default();
        for (key, v) in obj {
            let n = v
                .as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| (key.clone(), "must be a positive whole number".to_string()))?;
            match key.as_str() {
                "MaxMemoryMiB" => limits.max_memory_bytes = n.saturating_mul(1 << 20),
                "MaxGuestCpuSeconds" => limits.max_guest_cpu = Duration::from_secs(n),
                "HostCallTimeoutSeconds" => limits.host_call_timeout = Duration::from_secs(n),
                "MaxLogKiB" => {
                    limits.max_log_bytes = usize::try_from(n.saturating_mul(1024)).unwrap_or(usize::MAX)
                }
                "MaxBatchObjects" => limits.max_batch_objects = u32::try_from(n).unwrap_or(u32::MAX),
                _ => {
                    return Err((
                        key.clone(),
                        "unknown limit (known: MaxMemoryMiB, MaxGuestCpuSeconds, HostCallTimeoutSeconds, MaxLogKiB, MaxBatchObjects)".to_string(),
                    ))
                }
            }
        }
        Ok(limits)
    }
}
