//! The export's settings: what `export::run_with` takes from the connection.

use super::{deletions, written};

/// What the connection's settings tune in an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    /// Pipelines run at once by a complete export
    /// (`Connections.<id>.MaxParallelPipelines`); 1 lists every mailbox in
    /// one pipeline, more split the listing by database (partition.rs).
    pub parallel: u32,
    /// Hours between full listings that find removed mailboxes
    /// (`Options.ReconciliationHours`; deletions.rs); 0 lists them at every
    /// export.
    pub reconciliation_hours: u32,
    /// Guids of written mailboxes a complete export keeps in memory before
    /// it writes them, sorted, to a run in the cookie directory
    /// (`Options.MailboxGuidsInMemory`; written.rs): memory against disk.
    pub guids_in_memory: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            parallel: 1,
            reconciliation_hours: deletions::DEFAULT_RECONCILIATION_HOURS,
            guids_in_memory: written::RUN_LEN,
        }
    }
}

/// The longest reconciliation period an option may ask for: a year. Beyond
/// that a removed mailbox would stay in the target system for good.
const MAX_RECONCILIATION_HOURS: u64 = 24 * 366;

/// The most guids `Options.MailboxGuidsInMemory` may keep: some 512 MiB of
/// hash set, the component's default memory limit.
const MAX_GUIDS_IN_MEMORY: u64 = 1 << 24;

impl ExportOptions {
    /// The options of an export request (since 0.3.0): `max-parallel-pipelines` and
    /// the connection's `Options.ReconciliationHours` (a whole number of
    /// hours, JSON text as the host passes it through).
    pub fn from_request(request: &idconn_sdk::ExportRequest) -> Result<Self, String> {
        let mut options = ExportOptions {
            parallel: request.max_parallel_pipelines.max(1),
            ..ExportOptions::default()
        };
        for (name, json) in &request.options {
            match name.as_str() {
                "ReconciliationHours" => {
                    let hours = whole_number(name, json, 0, MAX_RECONCILIATION_HOURS, " of hours")?;
                    options.reconciliation_hours = hours as u32;
                }
                "MailboxGuidsInMemory" => {
                    let guids = whole_number(name, json, 1, MAX_GUIDS_IN_MEMORY, "")?;
                    options.guids_in_memory = guids as usize;
                }
                _ => {}
            }
        }
        Ok(options)
    }
}

/// An option's JSON text as a whole number from `min` to `max`, or the
/// error that names the option and quotes (the start of) what was given.
fn whole_number(name: &str, json: &str, min: u64, max: u64, unit: &str) -> Result<u64, String> {
    json.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            format!(
                "Options.{name} must be a whole number{unit} from {min} to {max}, found {}",
                json.chars().take(40).collect::<String>()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(parallel: u32, options: &[(&str, &str)]) -> idconn_sdk::ExportRequest {
        idconn_sdk::ExportRequest {
            connection: "X".into(),
            output_dir: "/out".into(),
            cookie_dir: "/cookies".into(),
            ignore_cookies: false,
            started_at: "2026-01-01T00:00:00Z".into(),
            max_parallel_pipelines: parallel,
            options: options
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn the_request_tunes_the_export() {
        let o = ExportOptions::from_request(&request(4, &[("ReconciliationHours", "6")])).unwrap();
        assert_eq!((o.parallel, o.reconciliation_hours), (4, 6));
        let o = ExportOptions::from_request(&request(0, &[])).unwrap();
        assert_eq!(
            (o.parallel, o.reconciliation_hours),
            (1, deletions::DEFAULT_RECONCILIATION_HOURS)
        );
        for bad in ["-1", "1.5", "\"6\"", "99999999"] {
            let e = ExportOptions::from_request(&request(1, &[("ReconciliationHours", bad)]))
                .unwrap_err();
            assert!(e.contains("Options.ReconciliationHours"), "{e}");
        }
        let o =
            ExportOptions::from_request(&request(1, &[("MailboxGuidsInMemory", "16")])).unwrap();
        assert_eq!(o.guids_in_memory, 16);
        assert_eq!(ExportOptions::default().guids_in_memory, written::RUN_LEN);
        for bad in ["0", "-1", "1.5", "\"16\"", "99999999999"] {
            let e = ExportOptions::from_request(&request(1, &[("MailboxGuidsInMemory", bad)]))
                .unwrap_err();
            assert!(e.contains("Options.MailboxGuidsInMemory"), "{e}");
        }
    }
}
