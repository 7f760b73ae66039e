//! Per-job limits of the sandbox, configurable per connection under
//! `Connections.<id>.Limits`. Each limit's setting name is the one an error
//! message quotes when the limit is hit.

use std::time::Duration;

use serde_json::Value;
use wasmtime::ResourceLimiter;

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
    /// `MaxJobSeconds`: wall-clock time of a whole job. Off by default: a
    /// real Exchange server takes tens of minutes to hours to list a large
    /// organisation's mailboxes, so a wall-clock default would end every
    /// large export; `MaxStallSeconds` ends a job that stopped moving.
    pub max_job_time: Option<Duration>,
    /// `MaxStallSeconds`: how long a job may go without an object from the
    /// server, a pipeline started or a progress report before it is ended
    /// (stall.rs).
    pub max_stall: Duration,
    /// `MaxWrittenMiB`: bytes in the job's ExportOutput and ExportCookies.
    pub max_written_bytes: u64,
    /// `MaxFiles`: files and directories in the job's two directories.
    pub max_files: usize,
    /// `MaxOpenHandles`: open files, directories, streams and pipeline
    /// outputs the component holds at once (entries of its resource table).
    pub max_open_handles: usize,
    /// `MaxHostCallDataMiB`: data the host copies out of the component in
    /// one call (arguments of an import, or an export's result).
    pub max_host_call_data_bytes: usize,
    /// `MaxServerDataMiB`: what the host's PSRP client holds at once of what
    /// the server sent (partial messages and decoded objects not yet handed
    /// to the component, over all pipelines of the job).
    pub max_server_data_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory_bytes: 512 << 20,
            max_guest_cpu: Duration::from_secs(600),
            host_call_timeout: Duration::from_secs(300),
            max_log_bytes: 256 << 10,
            max_batch_objects: 4096,
            max_job_time: None,
            // Ten minutes: twice HostCallTimeoutSeconds' default, so a
            // call the server is slow to answer fails on its own limit
            // first, and far above the seconds between two envelopes of a
            // working export.
            max_stall: Duration::from_secs(600),
            max_written_bytes: 2048 << 20,
            max_files: 1000,
            max_open_handles: 1024,
            max_host_call_data_bytes: 16 << 20,
            max_server_data_bytes: idconn_psrp::budget::DEFAULT_MAX_SERVER_DATA,
        }
    }
}

const KNOWN: &[&str] = &[
    "MaxMemoryMiB",
    "MaxGuestCpuSeconds",
    "HostCallTimeoutSeconds",
    "MaxLogKiB",
    "MaxBatchObjects",
    "MaxJobSeconds",
    "MaxStallSeconds",
    "MaxWrittenMiB",
    "MaxFiles",
    "MaxOpenHandles",
    "MaxHostCallDataMiB",
    "MaxServerDataMiB",
];

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
                    limits.max_log_bytes =
                        usize::try_from(n.saturating_mul(1024)).unwrap_or(usize::MAX)
                }
                "MaxBatchObjects" => {
                    limits.max_batch_objects = u32::try_from(n).unwrap_or(u32::MAX)
                }
                "MaxJobSeconds" => limits.max_job_time = Some(Duration::from_secs(n)),
                "MaxStallSeconds" => limits.max_stall = Duration::from_secs(n),
                "MaxWrittenMiB" => limits.max_written_bytes = n.saturating_mul(1 << 20),
                "MaxFiles" => limits.max_files = usize::try_from(n).unwrap_or(usize::MAX),
                "MaxOpenHandles" => {
                    limits.max_open_handles = usize::try_from(n).unwrap_or(usize::MAX)
                }
                "MaxHostCallDataMiB" => {
                    limits.max_host_call_data_bytes =
                        usize::try_from(n.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
                }
                "MaxServerDataMiB" => {
                    limits.max_server_data_bytes =
                        usize::try_from(n.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
                }
                _ => {
                    return Err((
                        key.clone(),
                        format!("unknown limit (known: {})", KNOWN.join(", ")),
                    ))
                }
            }
        }
        Ok(limits)
    }
}

/// Memory and table growth within the job's limits; remembers a refusal so
/// the job's error can name the limit.
pub(crate) struct JobLimiter {
    max_memory: usize,
    pub(crate) hit: bool,
    /// The largest linear memory the guest asked for and got, in bytes: a
    /// wasm memory never shrinks, so this is what the job cost the host.
    pub(crate) peak_memory: usize,
}

impl JobLimiter {
    pub(crate) fn new(limits: &Limits) -> JobLimiter {
        JobLimiter {
            max_memory: usize::try_from(limits.max_memory_bytes).unwrap_or(usize::MAX),
            hit: false,
            peak_memory: 0,
        }
    }
}

impl ResourceLimiter for JobLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.hit = true;
            return Ok(false);
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_is_configurable() {
        let limits = Limits::from_json(&serde_json::json!({
            "MaxJobSeconds": 5, "MaxWrittenMiB": 3, "MaxFiles": 7,
            "MaxOpenHandles": 9, "MaxHostCallDataMiB": 2, "MaxServerDataMiB": 4
        }))
        .unwrap();
        assert_eq!(limits.max_job_time, Some(Duration::from_secs(5)));
        assert_eq!(Limits::default().max_job_time, None);
        let stall = Limits::from_json(&serde_json::json!({"MaxStallSeconds": 7})).unwrap();
        assert_eq!(stall.max_stall, Duration::from_secs(7));
        assert_eq!(limits.max_written_bytes, 3 << 20);
        assert_eq!(limits.max_files, 7);
        assert_eq!(limits.max_open_handles, 9);
        assert_eq!(limits.max_host_call_data_bytes, 2 << 20);
        assert_eq!(limits.max_server_data_bytes, 4 << 20);
        let (key, problem) = Limits::from_json(&serde_json::json!({"MaxDisk": 1})).unwrap_err();
        assert_eq!(key, "MaxDisk");
        assert!(problem.contains("MaxWrittenMiB"), "{problem}");
    }

    #[test]
    fn the_limiter_keeps_the_peak_it_granted_and_refuses_past_the_limit() {
        let mut limiter = JobLimiter::new(&Limits {
            max_memory_bytes: 8 << 20,
            ..Limits::default()
        });
        assert!(limiter.memory_growing(0, 2 << 20, None).unwrap());
        assert!(limiter.memory_growing(2 << 20, 6 << 20, None).unwrap());
        assert!(!limiter.memory_growing(6 << 20, 9 << 20, None).unwrap());
        assert_eq!(limiter.peak_memory, 6 << 20, "a refused growth is no peak");
        assert!(limiter.hit);
    }
}
