//! The export figures over HTTP: `idconn export` against `exchange-sim`,
//! pypsrp against the same simulator, and the drain-only floor.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::kerberos::Realm;
use crate::procs::{self, Measured, Simulator};

pub const USER: &str = "admin";
pub const PASSWORD: &str = "admin";
pub const CONNECTION: &str = "Bench";

/// Where the binaries and scripts are.
pub struct Tools {
    pub idconn: PathBuf,
    pub simulator: PathBuf,
    pub native_harness: PathBuf,
    pub component: PathBuf,
    pub krb5_realm: Option<PathBuf>,
    pub pypsrp_script: PathBuf,
    pub python: PathBuf,
}

/// One `idconn export` run.
pub struct ExportRun {
    pub measured: Measured,
    pub mailboxes_csv: PathBuf,
}

/// Starts a simulator seeded with `mailboxes` and `databases`.
pub fn simulator(
    tools: &Tools,
    mailboxes: u64,
    databases: u64,
    scratch: &Path,
    kerberos: Option<&Realm>,
) -> anyhow::Result<Simulator> {
    simulator_on(tools, mailboxes, databases, scratch, kerberos, None)
}

/// [`simulator`], on CPU `cpu` alone when given.
pub fn simulator_on(
    tools: &Tools,
    mailboxes: u64,
    databases: u64,
    scratch: &Path,
    kerberos: Option<&Realm>,
    cpu: Option<usize>,
) -> anyhow::Result<Simulator> {
    let mut args = seeded(mailboxes, databases);
    let mut env = match kerberos {
        None => {
            args.extend(["--auth".to_string(), "basic".to_string()]);
            Vec::new()
        }
        Some(realm) => {
            args.extend([
                "--auth".to_string(),
                "kerberos".to_string(),
                "--keytab".to_string(),
                realm.var("KRB5_SERVICE_KEYTAB")?.to_string(),
            ]);
            realm.env.clone()
        }
    };
    if let Some(cpu) = cpu {
        env.push((crate::procs::PIN_CPU_ENV.to_string(), cpu.to_string()));
    }
    let auth = if kerberos.is_some() {
        "kerberos"
    } else {
        "basic"
    };
    Simulator::start(
        &tools.simulator,
        &args,
        &env,
        &scratch.join(format!("exchange-sim-{mailboxes}-{auth}.log")),
    )
}

/// The simulator's directory: `mailboxes` and `databases`, seed 1.
fn seeded(mailboxes: u64, databases: u64) -> Vec<String> {
    [
        "--mailboxes",
        &mailboxes.to_string(),
        "--databases",
        &databases.to_string(),
        "--seed",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A simulator with HTTP Basic (admin/admin) and the seeded directory,
/// plus `extra` arguments; its log in `log`.
pub fn basic_simulator(
    tools: &Tools,
    mailboxes: u64,
    databases: u64,
    extra: &[String],
    log: &Path,
) -> anyhow::Result<Simulator> {
    let mut args = seeded(mailboxes, databases);
    args.extend(["--auth".to_string(), "basic".to_string()]);
    args.extend_from_slice(extra);
    Simulator::start(&tools.simulator, &args, &[], log)
}

/// Writes the agent settings for `url`; the component cache is shared by
/// every run so only the first one compiles.
pub fn write_settings(
    dir: &Path,
    url: &str,
    cache: &Path,
    kerberos: bool,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let settings = dir.join("appsettings.agent.json");
    let text = format!(
        r#"{{
  "TempFolderPath": "Temp",
  "WorkFolderPath": "Work",
  "ComponentCachePath": {cache},
  "ComponentPath": {component},
  "Connections": {{
    "{CONNECTION}": {connection}
  }}
}}
"#,
        cache = json_string(&cache.display().to_string()),
        // idconn has no default component: the Exchange one `just bench` builds.
        component = json_string(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../components/target/wasm32-wasip2/release/exchange.wasm")
                .display()
                .to_string()
        ),
        // Kerberos: admin's ticket from the realm's kinit, sealed messages.
        connection = if kerberos {
            format!(
                r#"{{ "AuthType": "Kerberos", "Server": {} }}"#,
                json_string(url)
            )
        } else {
            format!(
                r#"{{ "AuthType": "HttpBasic", "Server": {}, "Login": "{USER}", "Password": "{PASSWORD}", "AllowUnencrypted": true }}"#,
                json_string(url)
            )
        },
    );
    std::fs::write(&settings, text)?;
    Ok(settings)
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Runs `command` (an export program and its subcommand) as `idconn export
/// --settings S --connection Bench [--ignore-cookies] --output-path
/// dir/out --cookie-path dir/cookies` takes it, its output in `dir/log`;
/// fails, quoting that output, unless it succeeds. Returns the measure and
/// the mailbox CSV's path.
pub fn run_export(
    mut command: std::process::Command,
    what: &str,
    settings: &Path,
    dir: &Path,
    ignore_cookies: bool,
    log: &str,
) -> anyhow::Result<ExportRun> {
    let out = dir.join("out");
    let cookies = dir.join("cookies");
    std::fs::create_dir_all(&out)?;
    std::fs::create_dir_all(&cookies)?;
    command
        .arg("--settings")
        .arg(settings)
        .args(["--connection", CONNECTION])
        .args(ignore_cookies.then_some("--ignore-cookies"))
        .arg("--output-path")
        .arg(&out)
        .arg("--cookie-path")
        .arg(&cookies)
        .env_remove("RUST_LOG");
    let log = dir.join(log);
    let measured = procs::measure(command, &log)?;
    if !measured.success {
        bail!(
            "{what} failed; its output: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    Ok(ExportRun {
        measured,
        mailboxes_csv: out.join(format!("{CONNECTION}_mailboxes.csv")),
    })
}

/// One complete export into `dir/out`, checked for `mailboxes` rows.
pub fn idconn_export(
    tools: &Tools,
    settings: &Path,
    dir: &Path,
    mailboxes: u64,
    env: &[(String, String)],
) -> anyhow::Result<ExportRun> {
    let mut command = procs::command(&tools.idconn);
    command.arg("export").envs(env.iter().map(|(k, v)| (k, v)));
    let run = run_export(command, "idconn export", settings, dir, true, "idconn.log")?;
    check_rows(&run.mailboxes_csv, mailboxes)?;
    Ok(run)
}

/// An export into `dir/out` with its cookies kept in `dir/cookies`:
/// complete (`--ignore-cookies`, checked for `mailboxes` rows) or
/// incremental (with the cookie the previous one left).
pub fn idconn_export_in(
    tools: &Tools,
    settings: &Path,
    dir: &Path,
    mailboxes: u64,
    incremental: bool,
) -> anyhow::Result<ExportRun> {
    let mut command = procs::command(&tools.idconn);
    command.arg("export");
    let log = if incremental {
        "idconn-incremental.log"
    } else {
        "idconn-complete.log"
    };
    let run = run_export(command, "idconn export", settings, dir, !incremental, log)?;
    if !incremental {
        check_rows(&run.mailboxes_csv, mailboxes)?;
    }
    Ok(run)
}

/// The peer: pypsrp's export into `dir`.
pub fn pypsrp_export(
    tools: &Tools,
    url: &str,
    dir: &Path,
    mailboxes: u64,
) -> anyhow::Result<(Measured, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let mut command = procs::command(&tools.python);
    command
        .arg(&tools.pypsrp_script)
        .args([url, USER, PASSWORD])
        .arg(dir);
    let log = dir.join("pypsrp.log");
    let measured = procs::measure(command, &log)?;
    if !measured.success {
        bail!(
            "the pypsrp export failed (is pypsrp installed? `python3 -m pip install pypsrp`); its output: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    let csv = dir.join("pypsrp_mailboxes.csv");
    check_rows(&csv, mailboxes)?;
    Ok((measured, csv))
}

/// The native harness (components/exchange example), `runs` times.
pub fn native_export(
    tools: &Tools,
    mailboxes: u64,
    databases: u64,
    runs: usize,
    dir: &Path,
) -> anyhow::Result<Vec<Duration>> {
    let output = procs::command(&tools.native_harness)
        .arg(mailboxes.to_string())
        .arg(databases.to_string())
        .arg(runs.to_string())
        .arg(dir)
        .output()
        .with_context(|| format!("cannot run {}", tools.native_harness.display()))?;
    if !output.status.success() {
        bail!(
            "the native harness failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("run "))
        .map(|s| {
            s.trim()
                .parse::<f64>()
                .map(Duration::from_secs_f64)
                .with_context(|| format!("the native harness printed {s:?}"))
        })
        .collect()
}

/// A CSV with a header and `rows` data lines (no field of these exports
/// holds a line break).
pub fn check_rows(path: &Path, rows: u64) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    if lines != rows + 1 {
        bail!(
            "{} has {} data rows, expected {rows}",
            path.display(),
            lines.saturating_sub(1)
        );
    }
    Ok(())
}

/// Lines that differ between two files of the same row count.
pub fn differing_lines(a: &Path, b: &Path) -> anyhow::Result<usize> {
    let a = std::fs::read_to_string(a)?;
    let b = std::fs::read_to_string(b)?;
    let differing = a.lines().zip(b.lines()).filter(|(x, y)| x != y).count();
    Ok(differing + a.lines().count().abs_diff(b.lines().count()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_valid_json_for_both_auth_types() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache \"q\"");
        for kerberos in [false, true] {
            let path = write_settings(
                dir.path(),
                "http://localhost:1/PowerShell/",
                &cache,
                kerberos,
            )
            .unwrap();
            let text = std::fs::read_to_string(path).unwrap();
            let settings =
                idconn_host::settings::Settings::load(&dir.path().join("appsettings.agent.json"));
            assert!(settings.is_ok(), "{text}: {:?}", settings.err());
            assert_eq!(text.contains("\"Kerberos\""), kerberos, "{text}");
        }
    }

    #[test]
    fn differing_lines_counts_changed_and_missing_lines() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "h\n1\n2\n3\n").unwrap();
        std::fs::write(&b, "h\n1\nX\n").unwrap();
        assert_eq!(differing_lines(&a, &b).unwrap(), 2);
        assert_eq!(differing_lines(&a, &a).unwrap(), 0);
    }

    #[test]
    fn check_rows_wants_a_header_and_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("x.csv");
        std::fs::write(&csv, "h\n1\n2\n").unwrap();
        assert!(check_rows(&csv, 2).is_ok());
        assert!(check_rows(&csv, 3).is_err());
    }
}
