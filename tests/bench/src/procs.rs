//! Child processes of the benchmark: each dies with the benchmark
//! (PR_SET_PDEATHSIG), and each is reaped with `wait4` so its own peak RSS
//! is known (RUSAGE_CHILDREN would mix every child's).
//!
//! A measured command is started by a launcher, a fresh `idconn-bench`
//! process: Linux keeps a process's peak RSS across `exec`, so a child
//! spawned by this benchmark (which holds tens of MiB by then) would report
//! at least the benchmark's own size. The launcher, freshly exec'd, is a few
//! MiB, and what it starts gets a figure of its own.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// How one child ran.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub wall: Duration,
    /// The child's own peak resident set, in bytes.
    pub max_rss: u64,
    /// The child's own CPU time, user + system (`wait4`'s rusage).
    pub cpu: Duration,
    pub success: bool,
}

/// A command that dies when the benchmark dies, so an interrupted run
/// leaves no process behind.
pub fn command(program: &Path) -> Command {
    let mut command = Command::new(program);
    // SAFETY: prctl is async-signal-safe and touches no memory of the
    // parent; it only asks the kernel to SIGKILL this child when the
    // benchmark's thread exits.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// Set on a command given to [`measure`] or [`Simulator::start`] (a CPU
/// number): the process runs on that CPU alone. Not passed on.
pub const PIN_CPU_ENV: &str = "IDCONN_BENCH_PIN_CPU";

/// Makes `command`'s process (and what it starts) run on CPU `cpu` alone.
fn pin(command: &mut Command, cpu: usize) {
    // SAFETY: sched_setaffinity is async-signal-safe; the set is built on
    // the child's stack.
    unsafe {
        command.pre_exec(move || {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The CPU [`PIN_CPU_ENV`] names among `envs`, if any.
fn pinned_cpu<'a>(
    mut envs: impl Iterator<Item = (&'a std::ffi::OsStr, Option<&'a std::ffi::OsStr>)>,
) -> Option<usize> {
    envs.find(|(name, _)| *name == PIN_CPU_ENV)
        .and_then(|(_, value)| value?.to_str()?.parse().ok())
}

/// The first argument that makes `idconn-bench` a launcher ([`launch`]).
pub const LAUNCH: &str = "__launch";

/// Runs `command` to its end through a launcher (see the module's notes);
/// stdout and stderr go to `log`. Its environment changes and working
/// directory are passed on; the wall time is the command's own.
pub fn measure(command: Command, log: &Path) -> anyhow::Result<Measured> {
    let file =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let launcher_exe = std::env::current_exe().context("cannot find this binary's path")?;
    let result = tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
    let mut launcher = self::command(&launcher_exe);
    launcher
        .arg(LAUNCH)
        .arg(result.path())
        .arg(command.get_program())
        .args(command.get_args());
    if let Some(cpu) = pinned_cpu(command.get_envs()) {
        pin(&mut launcher, cpu);
    }
    for (name, value) in command.get_envs() {
        if name == PIN_CPU_ENV {
            continue;
        }
        match value {
            Some(value) => launcher.env(name, value),
            None => launcher.env_remove(name),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        launcher.current_dir(dir);
    }
    launcher
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    let status = launcher
        .status()
        .with_context(|| format!("cannot start {}", launcher_exe.display()))?;
    if !status.success() {
        bail!(
            "could not run {:?}: {}",
            command.get_program(),
            std::fs::read_to_string(log).unwrap_or_default().trim()
        );
    }
    let text = std::fs::read_to_string(result.path())?;
    parse_result(&text).with_context(|| format!("the launcher reported {text:?}"))
}

fn parse_result(text: &str) -> anyhow::Result<Measured> {
    let mut fields = text.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(nanos)), Some(Ok(max_rss)), Some(Ok(cpu_nanos)), Some(Ok(success))) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        bail!("not four numbers");
    };
    Ok(Measured {
        wall: Duration::from_nanos(nanos),
        max_rss,
        cpu: Duration::from_nanos(cpu_nanos),
        success: success == 1,
    })
}

/// The launcher: `idconn-bench __launch <result file> <program> [args...]`
/// runs the program (stdio, environment and directory inherited), then
/// writes `<wall ns> <peak RSS bytes> <CPU ns> <1 if it exited 0>` to the
/// result file.
pub fn launch(args: &[std::ffi::OsString]) -> anyhow::Result<()> {
    let [result, program, rest @ ..] = args else {
        bail!("usage: idconn-bench {LAUNCH} <result file> <program> [args...]");
    };
    let mut child = command(Path::new(program));
    child.args(rest);
    let measured = run_measured(child)?;
    std::fs::write(
        result,
        format!(
            "{} {} {} {}",
            measured.wall.as_nanos(),
            measured.max_rss,
            measured.cpu.as_nanos(),
            u8::from(measured.success)
        ),
    )?;
    Ok(())
}

/// Spawns `command` from this process and reaps it with `wait4`.
fn run_measured(mut command: Command) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    let (status, usage) = wait4(&child)?;
    let wall = started.elapsed();
    Ok(Measured {
        wall,
        max_rss: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
    })
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
        + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
}

fn wait4(child: &Child) -> anyhow::Result<(libc::c_int, libc::rusage)> {
    let pid = libc::pid_t::try_from(child.id()).context("child pid out of range")?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; zeroed is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waits for our own child; status and usage are valid
        // pointers for the call's duration.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((status, usage));
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            bail!("wait4 on {pid} failed: {error}");
        }
    }
}

/// A running `exchange-sim`, killed and reaped when dropped.
pub struct Simulator {
    pub url: String,
    child: Child,
    _stdout: BufReader<ChildStdout>,
}

impl Simulator {
    pub fn start(
        binary: &Path,
        args: &[String],
        env: &[(String, String)],
        log: &Path,
    ) -> anyhow::Result<Simulator> {
        let file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut simulator = command(binary);
        let envs = env
            .iter()
            .map(|(k, v)| (std::ffi::OsStr::new(k), Some(std::ffi::OsStr::new(v))));
        if let Some(cpu) = pinned_cpu(envs) {
            pin(&mut simulator, cpu);
        }
        let mut child = simulator
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(
                env.iter()
                    .filter(|(k, _)| k != PIN_CPU_ENV)
                    .map(|(k, v)| (k, v)),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child
            .stdout
            .take()
            .context("exchange-sim has no stdout pipe")?;
        let mut stdout = BufReader::new(stdout);
        let mut first = String::new();
        // The simulator prints its URL once it listens, or exits.
        let read = stdout.read_line(&mut first);
        let url = first.trim().to_string();
        let mut simulator = Simulator {
            url,
            child,
            _stdout: stdout,
        };
        if read.is_err() || !simulator.url.starts_with("http://") {
            simulator.stop();
            bail!(
                "exchange-sim did not print its URL (got {:?}); its log: {}",
                simulator.url,
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        Ok(simulator)
    }

    /// The CPU time (user + system, all threads) the simulator has used
    /// so far, from /proc; `None` where that cannot be read.
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        cpu_of_stat(&stat)
    }

    /// The CPU the simulator spent since `before` (an earlier
    /// [`Simulator::cpu_time`]); `None` where either reading failed.
    pub fn cpu_since(&self, before: Option<Duration>) -> Option<Duration> {
        self.cpu_time()?.checked_sub(before?)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// utime + stime of a /proc/<pid>/stat line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted from the last
/// `)`: utime and stime are then the 12th and 13th.
fn cpu_of_stat(stat: &str) -> Option<Duration> {
    let (_, after) = stat.rsplit_once(')')?;
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf reads a constant of the C library.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = u64::try_from(ticks).ok().filter(|&t| t > 0)?;
    Some(Duration::from_nanos(
        (utime + stime).saturating_mul(1_000_000_000) / ticks,
    ))
}

/// A required file, or an error that says how to get it.
pub fn require(path: &Path, what: &str) -> anyhow::Result<PathBuf> {
    if !path.is_file() {
        bail!(
            "{what} is missing at {}: run `just bench`, which builds it",
            path.display()
        );
    }
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_past_a_command_name_with_spaces() {
        // SAFETY: as in cpu_of_stat.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        let stat = format!(
            "4242 (exchange sim) x) S 1 4242 4242 0 -1 4194560 1 0 0 0 {} {} 0 0 20 0 3 0",
            3 * ticks,
            ticks / 2
        );
        assert_eq!(cpu_of_stat(&stat), Some(Duration::from_millis(3500)));
        assert_eq!(cpu_of_stat("4242 (x) S 1"), None);
        assert_eq!(cpu_of_stat(""), None);
    }

    #[test]
    fn run_measured_reports_the_childs_own_peak_rss_and_exit_status() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        // dd touches its whole 64 MiB block buffer.
        let mut big = command(Path::new("dd"));
        big.args(["if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]);
        big.stderr(std::fs::File::create(&log).unwrap());
        let measured = run_measured(big).unwrap();
        assert!(measured.success);
        // Zeroing 64 MiB takes some CPU time, and no more than the wall.
        assert!(measured.cpu > Duration::ZERO);
        assert!(measured.max_rss >= 64 << 20, "{}", measured.max_rss);

        // A small child right after: its own figure, not the maximum of all
        // children so far (what RUSAGE_CHILDREN would give).
        let mut small = command(Path::new("sh"));
        small.args(["-c", "exit 3"]);
        let measured = run_measured(small).unwrap();
        assert!(!measured.success);
        assert!(measured.max_rss < 32 << 20, "{}", measured.max_rss);
    }

    #[test]
    fn launcher_results_are_read_strictly() {
        let measured = parse_result("1500000 52428800 700000 1").unwrap();
        assert_eq!(measured.wall, Duration::from_micros(1500));
        assert_eq!(measured.max_rss, 50 << 20);
        assert_eq!(measured.cpu, Duration::from_micros(700));
        assert!(measured.success);
        assert!(!parse_result("1 2 3 0").unwrap().success);
        assert!(parse_result("1 2 1").is_err());
        assert!(parse_result("").is_err());
        assert!(parse_result("a 2 1").is_err());
    }

    #[test]
    fn a_missing_binary_says_how_to_build_it() {
        let error = require(Path::new("/nonexistent/idconn"), "the idconn binary").unwrap_err();
        assert!(error.to_string().contains("just bench"), "{error}");
    }
}
