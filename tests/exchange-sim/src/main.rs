//! `exchange-sim`: an Exchange `/PowerShell/` endpoint for tests, demos and
//! benchmarks. Prints its URL as the first stdout line, then serves until
//! SIGTERM or Ctrl-C.

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use exchange_sim::backend::{ExchangeBackend, Faults};
use exchange_sim::exchange::rbac::UserStore;
use exchange_sim::exchange::seed::SeedSpec;
use exchange_sim::exchange::{ModelFaults, OrgOptions, Organization};
use exchange_sim::server::{self, AuthMode, ServerConfig};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

// glibc's malloc slows down tenfold on the simulator's churn of small
// strings (tests/throughput.rs measures it); mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Auth {
    /// Every caller is accepted, with every cmdlet.
    None,
    /// HTTP Basic, users from --users (default: admin/admin with full
    /// rights, reader/reader read-only).
    Basic,
    /// Kerberos (`Negotiate` or `Kerberos`) with every message sealed;
    /// needs --keytab. A principal `admin@REALM` is the user `admin` of
    /// --users (default: admin with full rights, reader read-only).
    Kerberos,
}

/// An Exchange remote PowerShell endpoint over an in-memory organization.
#[derive(Debug, Parser)]
#[command(name = "exchange-sim", version)]
struct Args {
    /// Address to listen on (loopback; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Mailboxes in the seeded directory (plus 10% AD users without one).
    #[arg(long, default_value_t = 1000)]
    mailboxes: u64,
    /// Mailbox databases in the seeded directory.
    #[arg(long, default_value_t = 3)]
    databases: u64,
    /// Seed of the generated directory: the same seed gives the same one.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = Auth::Basic)]
    auth: Auth,
    /// The service keys for --auth kerberos: `HTTP/<host>` where <host> is
    /// the host clients put in the URL (`localhost` for the printed URL).
    #[arg(long)]
    keytab: Option<PathBuf>,
    /// With --auth kerberos: offer and accept only the raw `Kerberos`
    /// scheme (messages sealed as HTTP-Kerberos-session-encrypted).
    #[arg(long)]
    no_negotiate: bool,
    /// JSON list of {"name", "password", "roles": [..], "cmdlets": [..]}.
    #[arg(long)]
    users: Option<PathBuf>,
    /// Keeps the directory in this JSON file across restarts: loaded when
    /// it exists (no seeding), rewritten after every change.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Shells one user may hold at once (Exchange's PowerShellMaxConcurrency).
    #[arg(long, default_value_t = 18)]
    max_shells_per_user: usize,
    /// Fault: close the connection after this many output objects.
    #[arg(long)]
    drop_after_objects: Option<u64>,
    /// Fault: delay every response by this many milliseconds.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Fault: close the connection without an answer on the first N shell
    /// Deletes, before acting on them (the shell stays open).
    #[arg(long, default_value_t = 0)]
    drop_deletes: u64,
    /// Fault: answer the Nth request (1-based) with a body that is not XML.
    #[arg(long)]
    malformed_response_at: Option<u64>,
    /// Fault: answer the Nth request and all after it with HTTP 500.
    #[arg(long)]
    http_500_from: Option<u64>,
    /// Fault: refuse every authentication.
    #[arg(long)]
    reject_auth: bool,
    /// Fault: pipelines after the first N fail with Exchange's throttling
    /// error.
    #[arg(long)]
    throttle_after: Option<u64>,
    /// Fault: with --throttle-after, only this many pipelines are refused;
    /// later ones run (the budget recovered). Default: all of them.
    #[arg(long)]
    throttle_times: Option<u64>,
    /// The simulated domain controller's clock minus this machine's:
    /// WhenChanged is stamped with the local clock plus this (negative
    /// allowed), as a DC whose clock is off stamps its own time.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    clock_skew_seconds: i64,
    /// Fault: every Nth pipeline starts with Exchange's micro-delay
    /// throttling warning.
    #[arg(long)]
    micro_delay_every: Option<u64>,
    /// Seconds a move request (New-MoveRequest) takes to complete: the
    /// mailbox changes database only then. A move whose target database is
    /// dismounted at that moment fails.
    #[arg(long, default_value_t = exchange_sim::exchange::DEFAULT_MOVE_SECONDS)]
    move_seconds: u64,
    /// Simulated server time, in microseconds, per object the first
    /// command of a pipeline produces (a wait, not CPU; pipelines wait in
    /// parallel as on a multi-core server). Models Exchange's cost per
    /// mailbox for benchmarks.
    #[arg(long, default_value_t = 0)]
    object_cost_us: u64,
    /// Benchmark control, not a model of Exchange: with --auth basic or
    /// none, also seal every answer as a Kerberos server would (AES-256
    /// with HMAC-SHA1, RFC 4121) and discard the result, so this server
    /// spends what a sealing one spends. On a machine the client shares,
    /// that makes an unsealed export's baseline see the same server load as
    /// a sealed one (`just bench`, section 7).
    #[arg(long)]
    sealing_work: bool,
    /// Writes the objects materialized so far, by cmdlet, to this JSON file
    /// (`{"objects_materialized": {"Get-Mailbox": N, ...}, "pipelines":
    /// {"Get-Mailbox": P, ...}}`) each time a pipeline ends, before the
    /// client sees it end.
    #[arg(long)]
    stats_file: Option<PathBuf>,
    /// Test hook `CMDLET=N`, not a model of Exchange: the first N pipelines
    /// starting with CMDLET each wait, before their first object, until N
    /// have started; one left waiting fails after 60 s with an error saying
    /// the client did not run them at the same time. Lets a test check
    /// concurrency without depending on timing.
    #[arg(long, value_parser = exchange_sim::exchange::metering::Rendezvous::parse)]
    rendezvous: Option<exchange_sim::exchange::metering::Rendezvous>,
    /// How long a pipeline waits at the `--rendezvous` before failing.
    #[arg(long, default_value_t = 60_000)]
    rendezvous_timeout_ms: u64,
    /// Test hook `DB=MAILBOX:TARGET`: when a `Get-Mailbox -Database DB`
    /// pipeline starts, MAILBOX moves to database TARGET at once (once;
    /// repeatable).
    #[arg(long, value_parser = exchange_sim::exchange::hooks::MoveHook::parse)]
    move_when_listing: Vec<exchange_sim::exchange::hooks::MoveHook>,
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

fn users(args: &Args) -> anyhow::Result<UserStore> {
    Ok(match (args.auth, &args.users) {
        (Auth::None, _) => UserStore::open(),
        (_, Some(path)) => UserStore::load(path)?,
        (_, None) => UserStore::default_basic(),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    if args.sealing_work && args.auth == Auth::Kerberos {
        bail!("--sealing-work is for an unsealed server (--auth basic or none): --auth kerberos seals its answers already");
    }
    if args.auth == Auth::Kerberos && args.keytab.is_none() {
        bail!("--auth kerberos needs --keytab FILE holding the HTTP/<host> service key (e.g. from `krb5-realm`)");
    }
    exchange_sim::exchange::model::set_clock_skew_seconds(args.clock_skew_seconds);
    let server_name = "EXCH01".to_string();
    let org = Organization::open(
        SeedSpec {
            mailboxes: args.mailboxes,
            databases: args.databases,
            seed: args.seed,
        },
        OrgOptions {
            users: users(&args)?,
            state_path: args.state.clone(),
            faults: ModelFaults {
                throttle_after: args.throttle_after,
                throttle_times: args.throttle_times,
                micro_delay_every: args.micro_delay_every,
                move_seconds: Some(args.move_seconds),
                move_hooks: args.move_when_listing.clone(),
                object_cost_us: args.object_cost_us,
                stats_file: args.stats_file.clone(),
                rendezvous: args.rendezvous.clone(),
                rendezvous_timeout: std::time::Duration::from_millis(args.rendezvous_timeout_ms),
            },
            server_name: server_name.clone(),
        },
    )
    .context("preparing the directory")?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let port = listener
        .local_addr()
        .context("reading the bound address")?
        .port();
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "http://localhost:{port}/PowerShell/")?;
        stdout.flush()?;
    }
    let config = ServerConfig {
        auth: match args.auth {
            Auth::None => AuthMode::None,
            Auth::Basic => AuthMode::Basic,
            Auth::Kerberos => AuthMode::Kerberos,
        },
        kerberos_keytab: args.keytab.clone(),
        offer_negotiate: !args.no_negotiate,
        sealing_work: args.sealing_work,
        max_shells_per_user: args.max_shells_per_user,
        server_name,
        faults: Faults {
            drop_after_objects: args.drop_after_objects,
            latency: args.latency_ms.map(Duration::from_millis),
            malformed_response_at: args.malformed_response_at,
            http_500_from: args.http_500_from,
            reject_auth: args.reject_auth,
            drop_deletes: args.drop_deletes,
        },
        ..ServerConfig::default()
    };
    let backend: Arc<dyn ExchangeBackend> = Arc::new(org);
    server::serve_until(listener, backend, config, shutdown_signal()).await
}
