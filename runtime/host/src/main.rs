use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use idconn_host::jobs::{self, ExportOptions};
use idconn_host::report::CliReporter;
use idconn_host::runtime::Runtime;
use idconn_host::settings::Settings;

// An export allocates and frees every CLIXML value, every WIT string and
// every batch once. mimalloc takes a tenth off a 100,000-mailbox export's
// CPU and wall time compared with glibc's malloc (4.3 -> 3.7 s CPU, 4.55 ->
// 4.15 s; BENCHMARKS.md), for resident memory that stays flat from 10,000
// mailboxes on. How it is tuned, and why: src/allocator.rs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Identity connectors as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(name = "idconn", version, about)]
struct Cli {
    /// More log output from idconn and the component (-v debug, -vv trace);
    /// RUST_LOG overrides (and reaches dependencies).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Export the connector's entities to CSV (complete, or incremental
    /// when a cookie exists).
    Export {
        #[command(flatten)]
        target: Target,
        /// Ignore the cookie: run a complete export.
        #[arg(long, alias = "force-complete")]
        ignore_cookies: bool,
        /// Write the CSVs here instead of <TempFolderPath>/ExportOutput.
        #[arg(long)]
        output_path: Option<PathBuf>,
        /// Keep the cookie here instead of <WorkFolderPath>/ExportCookies.
        #[arg(long)]
        cookie_path: Option<PathBuf>,
    },
    /// Apply Usercube provisioning orders (every *.json of --orders), write
    /// the results CSV, move processed files to <orders>/Completed.
    Fulfill {
        #[command(flatten)]
        target: Target,
        /// The folder of order files ({"ProvisioningOrdersList":[...]}).
        #[arg(long)]
        orders: PathBuf,
        /// The results CSV (AssignmentId,ProvisioningState,Message,...).
        #[arg(long)]
        results: PathBuf,
    },
    /// Check a connection: opens a session and runs the component's own check.
    Check {
        #[command(flatten)]
        target: Target,
    },
    /// Run as a long-lived agent: an HTTP API on loopback to run jobs, list
    /// and activate component versions, and read metrics (bearer token
    /// from AgentToken or IDCONN_AGENT_TOKEN). SIGTERM drains running jobs.
    Agent {
        /// The agent settings file (appsettings.agent.json).
        #[arg(long)]
        settings: PathBuf,
        /// Where the API listens; loopback only unless --allow-remote.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Allow a non-loopback --listen address.
        #[arg(long)]
        allow_remote: bool,
        /// The age identity file that decrypts the protected settings
        /// (default: $IDCONN_AGE_IDENTITY).
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Protect a secret: write one value (read from a prompt or stdin, never
    /// the command line) into the encrypted overlay next to the settings
    /// (appsettings.encrypted.agent.json.age), merged with what it holds.
    Protect {
        /// The agent settings file (appsettings.agent.json).
        #[arg(long)]
        settings: PathBuf,
        /// The setting, e.g. Connections.MicrosoftExchangeExport.Password,
        /// AgentToken, or Connections--MicrosoftExchangeExport--Password.
        #[arg(long)]
        key: String,
        /// An age recipient (age1...) to encrypt to; repeat for several.
        #[arg(long = "recipient", value_name = "AGE1...")]
        recipients: Vec<String>,
        /// The age identity file: decrypts the existing overlay, and its
        /// recipient is added (default: $IDCONN_AGE_IDENTITY).
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
        /// Create this identity file first (mode 0600, never overwritten)
        /// and use it as --identity.
        #[arg(long, value_name = "FILE", conflicts_with = "identity")]
        new_identity: Option<PathBuf>,
    },
    /// Run a job against the real server as usual and write every pipeline
    /// the component ran, with the server's answers, as a replay fixture
    /// (docs/replay.md). No credentials, server address or host paths are
    /// written.
    Record {
        #[command(flatten)]
        target: Target,
        /// The job to record.
        #[arg(long, value_enum)]
        operation: RecordOperation,
        /// Fulfill: the folder of order files.
        #[arg(long)]
        orders: Option<PathBuf>,
        /// Fulfill: the results CSV [default: <FIXTURE stem>.results.csv next to it].
        #[arg(long)]
        results: Option<PathBuf>,
        /// Export: ignore the cookie (a complete export).
        #[arg(long, alias = "force-complete")]
        ignore_cookies: bool,
        /// The fixture file to write.
        #[arg(long)]
        out: PathBuf,
        /// Mask the values of this property or parameter everywhere in the
        /// fixture (repeatable), e.g. --redact DisplayName.
        #[arg(long, alias = "redact-property", value_name = "NAME")]
        redact: Vec<String>,
        /// Fail the recording when it would hold more output than this.
        #[arg(long, default_value_t = 512, value_name = "MIB")]
        max_fixture_mib: usize,
    },
    /// Run a component against a replay fixture in the sandbox and compare
    /// the files it writes with golden files; exit status 1 on a difference.
    Test {
        /// The component (.wasm).
        component: PathBuf,
        /// The replay fixture (from `idconn record`, or written by hand).
        #[arg(long)]
        fixture: PathBuf,
        /// The golden directory [default: <FIXTURE stem>.expected next to it].
        #[arg(long)]
        expect: Option<PathBuf>,
        /// Rewrite the golden files from this run instead of comparing.
        #[arg(long)]
        update: bool,
        /// Cache compiled components here [default: none, compile every run].
        #[arg(long)]
        component_cache: Option<PathBuf>,
    },
    /// Show what a component is: world, package version, imports, exports, digest.
    Inspect {
        /// The component (.wasm).
        component: PathBuf,
    },
    /// Stamp or show a component's manifest (the `idconn-manifest` section),
    /// whatever language built it.
    #[command(subcommand)]
    Manifest(idconn_host::manifest_tool::ManifestCmd),
    /// Compile components into the compiled-component cache ahead of a job,
    /// printing the time and size.
    Compile(idconn_host::compile::CompileArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RecordOperation {
    Export,
    Check,
    Fulfill,
}

#[derive(clap::Args)]
struct Target {
    /// The agent settings file (appsettings.agent.json).
    #[arg(long)]
    settings: PathBuf,
    /// The connection identifier (a key of "Connections"); Usercube's
    /// spelling --connection-identifier works too.
    #[arg(long, visible_alias = "connection-identifier")]
    connection: String,
    /// The age identity file that decrypts the protected settings
    /// (default: $IDCONN_AGE_IDENTITY).
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// The component (.wasm) for a connection whose settings name none
    /// (Connections.<id>.ComponentPath and the top-level ComponentPath win).
    #[arg(long, value_name = "FILE")]
    component: Option<PathBuf>,
}

impl Target {
    fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = Settings::load_with(&self.settings, self.identity.as_deref())?;
        if let Some(component) = &self.component {
            for conn in settings.connections.values_mut() {
                conn.component_path.get_or_insert_with(|| component.clone());
            }
        }
        Ok(settings)
    }
}

fn main() -> ExitCode {
    idconn_host::allocator::tune();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    // -v and -vv raise idconn's own logs (and the component's), not its
    // dependencies': at trace, Cranelift alone wrote 1.3 GB while compiling
    // one component. RUST_LOG reaches every crate when that is wanted.
    let default = match verbose {
        0 => "info",
        1 => "info,idconn=debug,idconn_host=debug,idconn_psrp=debug,component=debug",
        _ => "info,idconn=trace,idconn_host=trace,idconn_psrp=trace,component=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn run(command: Cmd) -> anyhow::Result<()> {
    match command {
        Cmd::Export {
            target,
            ignore_cookies,
            output_path,
            cookie_path,
        } => {
            let settings = target.settings()?;
            let conn = settings.connection(&target.connection)?;
            let runtime = Runtime::new()?;
            let component = jobs::load_component(&runtime, &settings, conn)?;
            let shell = jobs::open_backend(conn, &component)?;
            let reporter = Arc::new(CliReporter::new(&conn.id, "objects"));
            let options = ExportOptions {
                ignore_cookies,
                output_path,
                cookie_path,
            };
            let outcome = jobs::export(
                &runtime, &settings, conn, &component, shell, reporter, &options,
            )?;
            let s = &outcome.summary;
            println!(
                "Export ({}) of {}: {}; {} inserts, {} updates, {} deletes; {:.2} s",
                if s.complete {
                    "complete"
                } else {
                    "incremental"
                },
                conn.id,
                s.counts_text(),
                s.inserts,
                s.updates,
                s.deletes,
                outcome.elapsed.as_secs_f64()
            );
            for file in &outcome.files {
                println!("  {}", file.display());
            }
            Ok(())
        }
        Cmd::Fulfill {
            target,
            orders,
            results,
        } => run_fulfill(&target, orders, results),
        Cmd::Check { target } => {
            let settings = target.settings()?;
            let conn = settings.connection(&target.connection)?;
            let runtime = Runtime::new()?;
            let component = jobs::load_component(&runtime, &settings, conn)?;
            let shell = jobs::open_backend(conn, &component)
                .with_context(|| format!("connection {} failed its check", conn.id))?;
            let reporter = Arc::new(CliReporter::new(&conn.id, "objects"));
            let result = jobs::check(&runtime, &settings, conn, &component, shell, reporter)
                .with_context(|| format!("connection {} failed its check", conn.id))?;
            println!("Connection {} is working: {}", conn.id, result.summary());
            for line in result.detail_lines() {
                println!("  {line}");
            }
            Ok(())
        }
        Cmd::Agent {
            settings,
            listen,
            allow_remote,
            identity,
        } => idconn_host::agent::run(&settings, identity.as_deref(), listen, allow_remote),
        Cmd::Protect {
            settings,
            key,
            recipients,
            identity,
            new_identity,
        } => run_protect(settings, key, recipients, identity, new_identity),
        Cmd::Record {
            target,
            operation,
            orders,
            results,
            ignore_cookies,
            out,
            redact,
            max_fixture_mib,
        } => {
            use idconn_host::grants::Operation;
            let operation = match operation {
                RecordOperation::Export => Operation::Export,
                RecordOperation::Check => Operation::Check,
                RecordOperation::Fulfill => Operation::Fulfill,
            };
            let options = idconn_host::record::RecordOptions {
                operation,
                orders,
                results,
                ignore_cookies,
                out,
                redact,
                max_bytes: max_fixture_mib.saturating_mul(1 << 20),
            };
            run_record(&target, &options)
        }
        Cmd::Test {
            component,
            fixture,
            expect,
            update,
            component_cache,
        } => run_test(component, fixture, expect, update, component_cache),
        Cmd::Inspect { component } => {
            let inspection = idconn_host::inspect::inspect(&component)?;
            print!("{}", inspection.render());
            Ok(())
        }
        Cmd::Manifest(cmd) => cmd.run(),
        Cmd::Compile(args) => args.run(),
    }
}

fn run_record(target: &Target, options: &idconn_host::record::RecordOptions) -> anyhow::Result<()> {
    let settings = target.settings()?;
    let conn = settings.connection(&target.connection)?;
    let runtime = Runtime::new()?;
    let component = Some(jobs::load_component(&runtime, &settings, conn)?);
    let reporter = Arc::new(CliReporter::new(&conn.id, "objects"));
    let outcome = idconn_host::record::record(
        &runtime,
        &settings,
        conn,
        component.as_ref(),
        reporter,
        options,
    )?;
    println!(
        "Recorded {} of {}: {} pipelines, {} objects, {} values redacted; fixture {}",
        outcome.summary,
        conn.id,
        outcome.calls,
        outcome.objects,
        outcome.redacted_values,
        outcome.fixture.display()
    );
    for file in &outcome.files {
        println!("  {}", file.display());
    }
    Ok(())
}

fn run_test(
    component: PathBuf,
    fixture: PathBuf,
    expect: Option<PathBuf>,
    update: bool,
    component_cache: Option<PathBuf>,
) -> anyhow::Result<()> {
    use idconn_host::testkit::{self, TestOptions};
    let expect = expect.unwrap_or_else(|| testkit::default_expect_dir(&fixture));
    let run = testkit::run_fixture(&TestOptions {
        component,
        fixture: fixture.clone(),
        component_cache,
    })?;
    if update {
        run.update(&expect)?;
        println!(
            "Updated {} from {} ({}): {}",
            expect.display(),
            fixture.display(),
            run.summary,
            run.files
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(());
    }
    let comparison = run.compare(&expect)?;
    if comparison.is_same() {
        println!(
            "ok: {} ({}) matches {}: {}",
            fixture.display(),
            run.summary,
            expect.display(),
            comparison.same.join(", ")
        );
        Ok(())
    } else {
        print!("{}", comparison.render());
        anyhow::bail!(
            "{} differs from the golden files in {} ({} files); check the differences above, and if they are intended run again with --update",
            fixture.display(),
            expect.display(),
            comparison.differences.len()
        )
    }
}

fn run_protect(
    settings: PathBuf,
    key: String,
    recipients: Vec<String>,
    identity: Option<PathBuf>,
    new_identity: Option<PathBuf>,
) -> anyhow::Result<()> {
    use idconn_host::secrets::protect::{self, ProtectOptions};

    let identity = match new_identity {
        Some(path) => {
            let recipient = protect::new_identity(&path)?;
            eprintln!(
                "created the age identity {} (public key {recipient}): keep it safe, only it decrypts the protected settings",
                path.display()
            );
            Some(path)
        }
        None => identity,
    };
    let options = ProtectOptions {
        settings,
        key,
        recipients,
        identity,
    };
    let secret = protect::read_secret(&options.key)?;
    let done = protect::protect(&options, &secret)?;
    println!(
        "{} is protected in {} (encrypted to {} recipient{}); its value wins over {}",
        done.key,
        done.overlay.display(),
        done.recipients,
        if done.recipients == 1 { "" } else { "s" },
        options.settings.display()
    );
    if done.still_in_plain_file {
        eprintln!(
            "warning: {} still holds {} in clear: remove it there",
            options.settings.display(),
            done.key
        );
    }
    Ok(())
}

fn run_fulfill(target: &Target, orders: PathBuf, results: PathBuf) -> anyhow::Result<()> {
    use idconn_host::fulfill::{self, FulfillCliReporter, FulfillOptions};
    use idconn_host::orders::OrderBatch;

    let settings = target.settings()?;
    let conn = settings.connection(&target.connection)?;
    let batch = OrderBatch::load(&orders)?;
    // Usercube's agent sizes its progress bar from this first line.
    println!("OrdersCount:{}", batch.order_count());
    let runtime = Runtime::new()?;
    let component = jobs::load_component(&runtime, &settings, conn)?;
    let reporter = Arc::new(FulfillCliReporter::new(&conn.id));
    let options = FulfillOptions {
        orders_dir: orders,
        results_file: results,
    };
    let outcome = fulfill::fulfill(
        &runtime, &settings, conn, &component, reporter, batch, &options,
    )?;
    println!(
        "Fulfill of {}: {} orders, {} executed, {} errored; {:.2} s; results in {}",
        conn.id,
        outcome.rows.len(),
        outcome.executed(),
        outcome.errored(),
        outcome.elapsed.as_secs_f64(),
        outcome.results_file.display()
    );
    for file in &outcome.moved {
        println!("  completed: {}", file.display());
    }
    for file in &outcome.malformed {
        println!(
            "  left in place (malformed): {}: {}",
            file.path.display(),
            file.error
        );
    }
    if !outcome.not_moved.is_empty() {
        let names: Vec<String> = outcome
            .not_moved
            .iter()
            .map(|(path, why)| format!("{} ({why})", path.display()))
            .collect();
        anyhow::bail!(
            "the orders were applied and are in {}, but these files could not be moved to Completed (a rerun applies them again, which is safe): {}",
            outcome.results_file.display(),
            names.join("; ")
        );
    }
    Ok(())
}
