//! The agent's Prometheus metrics, rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use super::{lock, Agent, JobKind, JobStatus};

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    jobs: BTreeMap<(JobKind, &'static str), u64>,
    /// Sum of seconds and count, per kind.
    durations: BTreeMap<JobKind, (f64, u64)>,
    objects: BTreeMap<JobKind, u64>,
}

impl Metrics {
    pub(crate) fn job_finished(
        &self,
        kind: JobKind,
        status: JobStatus,
        elapsed: Duration,
        objects: u64,
    ) {
        let status = match status {
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        };
        let mut c = lock(&self.inner);
        *c.jobs.entry((kind, status)).or_default() += 1;
        let d = c.durations.entry(kind).or_default();
        d.0 += elapsed.as_secs_f64();
        d.1 += 1;
        *c.objects.entry(kind).or_default() += objects;
    }

    pub(crate) fn render(&self, agent: &Agent) -> String {
        let mut out = String::new();
        let c = lock(&self.inner);
        let mut metric = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        metric(
            "idconn_jobs_total",
            "counter",
            "Jobs finished, by kind and status.",
            c.jobs
                .iter()
                .map(|((k, s), n)| {
                    (
                        format!("{{kind=\"{}\",status=\"{s}\"}}", k.name()),
                        n.to_string(),
                    )
                })
                .collect(),
        );
        metric(
            "idconn_jobs_running",
            "gauge",
            "Jobs running now.",
            vec![(String::new(), agent.running_jobs().to_string())],
        );
        let durations: Vec<(String, String)> = c
            .durations
            .iter()
            .flat_map(|(k, (sum, count))| {
                [
                    (
                        format!("_sum{{kind=\"{}\"}}", k.name()),
                        format!("{sum:.3}"),
                    ),
                    (
                        format!("_count{{kind=\"{}\"}}", k.name()),
                        count.to_string(),
                    ),
                ]
            })
            .collect();
        metric(
            "idconn_job_duration_seconds",
            "summary",
            "Wall-clock duration of finished jobs.",
            durations,
        );
        metric(
            "idconn_objects_total",
            "counter",
            "Objects handled by successful jobs (objects exported, orders fulfilled, connections checked).",
            c.objects
                .iter()
                .map(|(k, n)| (format!("{{kind=\"{}\"}}", k.name()), n.to_string()))
                .collect(),
        );
        metric(
            "idconn_denied_cmdlets_total",
            "counter",
            "Pipelines refused by a grant check (each also an audit log line).",
            vec![(String::new(), crate::stats::denials().to_string())],
        );
        metric(
            "idconn_limit_hits_total",
            "counter",
            "Jobs stopped by a sandbox limit, by its setting.",
            crate::stats::limit_hits()
                .into_iter()
                .map(|(setting, n)| (format!("{{limit=\"{setting}\"}}"), n.to_string()))
                .collect(),
        );
        let (swaps, rejected) = agent.registry().counts();
        metric(
            "idconn_component_swaps_total",
            "counter",
            "Changes of a connection's active component version.",
            vec![(String::new(), swaps.to_string())],
        );
        metric(
            "idconn_component_rejected_total",
            "counter",
            "Component versions that failed their check and never became active.",
            vec![(String::new(), rejected.to_string())],
        );
        out
    }
}
