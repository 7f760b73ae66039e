//! A throwaway MIT Kerberos realm for tests and demos: `krb5kdc` on a free
//! loopback port, its database, configuration, ticket cache and keytabs in
//! a temporary directory, stopped and removed on drop.
//!
//! The realm's environment (`KRB5_CONFIG`, `KRB5CCNAME`, `KRB5_KTNAME`) is
//! only ever put on processes the caller starts ([`Realm::env`],
//! [`Realm::command`]): tests run in parallel threads of one process, and a
//! process-wide variable would leak one test's realm into another.

use std::ffi::OsString;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const DEFAULT_REALM: &str = "IDCONN.TEST";
/// The simulator's URL is `http://localhost:PORT/PowerShell/`, so its SPN is
/// `HTTP/localhost`.
pub const DEFAULT_HOST: &str = "localhost";
/// The simulator's default users, as Kerberos principals (name, password).
pub const DEFAULT_USERS: &[(&str, &str)] = &[
    ("admin", "Admin-Kerberos-1"),
    ("reader", "Reader-Kerberos-1"),
];

/// AES with SHA-1 only: what Windows domains use, and the enctype whose
/// 60-byte wrap header WinRM's framing is known for.
const ENCTYPES: &str = "aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96";
const KEY_SALTS: &str = "aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal";
/// How long the KDC may take to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts at finding a port free for both TCP and UDP and starting on it.
const START_ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run {program}: {source} (install krb5-kdc krb5-admin-server krb5-user: scripts/setup.sh)")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} failed ({status}): {output}")]
    Failed {
        program: String,
        status: String,
        output: String,
    },
    #[error("the KDC did not start: {0}")]
    Kdc(String),
    #[error("I/O in the realm directory: {0}")]
    Io(#[from] std::io::Error),
}

/// What to create: the realm name, the service host, and user principals.
#[derive(Debug, Clone)]
pub struct RealmSpec {
    pub realm: String,
    pub host: String,
    pub users: Vec<(String, String)>,
    /// The clock skew the KDC and the libraries tolerate (MIT's default is
    /// 300 s; a test of expired tickets wants it short).
    pub clockskew_seconds: u32,
}

impl Default for RealmSpec {
    fn default() -> RealmSpec {
        RealmSpec {
            realm: DEFAULT_REALM.into(),
            host: DEFAULT_HOST.into(),
            users: DEFAULT_USERS
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
            clockskew_seconds: 300,
        }
    }
}

/// A running realm. Dropping it stops the KDC and removes the directory.
pub struct Realm {
    spec: RealmSpec,
    dir: tempfile::TempDir,
    port: u16,
    kdc: Child,
}

impl std::fmt::Debug for Realm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Realm")
            .field("realm", &self.spec.realm)
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Realm {
    /// `IDCONN.TEST` with `HTTP/localhost`, `host/localhost` and the
    /// default users.
    pub fn start() -> Result<Realm, Error> {
        Realm::start_with(RealmSpec::default())
    }

    pub fn start_with(spec: RealmSpec) -> Result<Realm, Error> {
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match Realm::try_start(spec.clone()) {
                Ok(realm) => return Ok(realm),
                // Another process may take the port between the probe and
                // the KDC's bind: a new port and a new try.
                Err(e @ Error::Kdc(_)) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Kdc("no attempt was made".into())))
    }

    fn try_start(spec: RealmSpec) -> Result<Realm, Error> {
        let dir = tempfile::Builder::new().prefix("krb5-realm-").tempdir()?;
        let port = free_port()?;
        write_config(dir.path(), &spec, port)?;
        let files = Files::new(dir.path());
        let env = files.env();
        run(Command::new("kdb5_util")
            .args(["create", "-s", "-r", &spec.realm, "-P"])
            .arg(random_password())
            .envs(env.clone()))?;
        let mut kadmin = Vec::new();
        for (user, password) in &spec.users {
            kadmin.push(format!(
                "addprinc -e \"{KEY_SALTS}\" -pw \"{password}\" {user}"
            ));
            kadmin.push(format!(
                "ktadd -k {} -norandkey {user}",
                files.user_keytab(user).display()
            ));
        }
        for service in ["HTTP", "host"] {
            let principal = format!("{service}/{}", spec.host);
            kadmin.push(format!("addprinc -e \"{KEY_SALTS}\" -randkey {principal}"));
            kadmin.push(format!(
                "ktadd -k {} -e \"{KEY_SALTS}\" {principal}",
                files.service_keytab.display()
            ));
        }
        for query in kadmin {
            run(Command::new("kadmin.local")
                .args(["-r", &spec.realm, "-q", &query])
                .envs(env.clone()))?;
        }
        let mut command = Command::new("krb5kdc");
        command
            .args(["-n", "-r", &spec.realm])
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(
                dir.path().join("krb5kdc.stderr"),
            )?));
        die_with_parent(&mut command);
        let kdc = command.spawn().map_err(|source| Error::Spawn {
            program: "krb5kdc".into(),
            source,
        })?;
        let mut realm = Realm {
            spec,
            dir,
            port,
            kdc,
        };
        realm.wait_ready()?;
        Ok(realm)
    }

    /// Waits until the KDC issues a real ticket: the port accepting is not
    /// enough, the database must be loaded too.
    fn wait_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + START_TIMEOUT;
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let probe = self.dir.path().join("probe.ccache");
        loop {
            if let Some(status) = self.kdc.try_wait()? {
                return Err(Error::Kdc(format!(
                    "krb5kdc exited ({status}): {}",
                    self.kdc_log()
                )));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                let keytab = self.service_keytab();
                let principal = format!("HTTP/{}", self.spec.host);
                let mut kinit = self.command("kinit");
                kinit
                    .arg("-k")
                    .arg("-t")
                    .arg(&keytab)
                    .arg("-c")
                    .arg(format!("FILE:{}", probe.display()))
                    .arg(principal);
                if run(&mut kinit).is_ok() {
                    let _ = std::fs::remove_file(&probe);
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(Error::Kdc(format!(
                    "no ticket from the KDC on {address} within {START_TIMEOUT:?}: {}",
                    self.kdc_log()
                )));
            }
            // A bounded poll of a process we do not control; each round is
            // a real connection attempt, not a guess at a duration.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kdc_log(&self) -> String {
        let mut log = String::new();
        for name in ["kdc.log", "krb5kdc.stderr"] {
            if let Ok(text) = std::fs::read_to_string(self.dir.path().join(name)) {
                let tail: Vec<&str> = text.lines().rev().take(10).collect();
                log.push_str(&tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            }
        }
        log
    }

    pub fn realm(&self) -> &str {
        &self.spec.realm
    }

    pub fn host(&self) -> &str {
        &self.spec.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The user's password, if the realm has this user.
    pub fn password(&self, user: &str) -> Option<&str> {
        self.spec
            .users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.as_str())
    }

    pub fn krb5_config(&self) -> PathBuf {
        Files::new(self.dir.path()).config
    }

    /// The realm's own ticket cache (`FILE:`), empty until [`Realm::kinit`].
    pub fn ccache(&self) -> String {
        format!("FILE:{}", Files::new(self.dir.path()).ccache.display())
    }

    /// `HTTP/<host>` and `host/<host>` keys, for the acceptor.
    pub fn service_keytab(&self) -> PathBuf {
        Files::new(self.dir.path()).service_keytab
    }

    /// A client keytab holding `user`'s keys (its password stays valid).
    pub fn user_keytab(&self, user: &str) -> PathBuf {
        Files::new(self.dir.path()).user_keytab(user)
    }

    /// The variables a process needs to use this realm: configuration,
    /// the realm's ticket cache, the service keytab and a private replay
    /// cache directory.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        Files::new(self.dir.path()).env()
    }

    /// A command with [`Realm::env`] applied.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.envs(self.env());
        command
    }

    /// Gets a ticket for `user` into the realm's cache.
    pub fn kinit(&self, user: &str, password: &str) -> Result<(), Error> {
        self.kinit_into(user, password, &self.ccache())
    }

    /// Gets a ticket for `user` into `ccache` (e.g. `FILE:/tmp/x`).
    pub fn kinit_into(&self, user: &str, password: &str, ccache: &str) -> Result<(), Error> {
        self.kinit_with(user, password, &["-c", ccache])
    }

    /// Gets a ticket for `user` with extra kinit options (e.g. `-l 1s`
    /// for a ticket that expires at once), into the realm's cache unless
    /// `-c` says otherwise.
    pub fn kinit_with(&self, user: &str, password: &str, options: &[&str]) -> Result<(), Error> {
        let mut child = self
            .command("kinit")
            .args(options)
            .arg(user)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: "kinit".into(),
                source,
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // kinit may exit before prompting (no KDC): its status says why.
            let _ = writeln!(stdin, "{password}");
        }
        check("kinit", child.wait_with_output()?)
    }

    /// Empties the realm's ticket cache.
    pub fn kdestroy(&self) -> Result<(), Error> {
        run(self.command("kdestroy").args(["-q", "-c", &self.ccache()]))
    }
}

impl Realm {
    /// Stops the KDC but keeps the configuration, caches and keytabs: for
    /// tests of an unreachable KDC.
    pub fn stop_kdc(&mut self) {
        if self.kdc.try_wait().ok().flatten().is_some() {
            return;
        }
        // SIGTERM lets krb5kdc close its database; it exits at once.
        if let Ok(pid) = i32::try_from(self.kdc.id()) {
            // SAFETY: kill(2) on our own child's pid; no memory involved.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let _ = self.kdc.wait();
    }
}

impl Drop for Realm {
    fn drop(&mut self) {
        self.stop_kdc();
    }
}

struct Files {
    config: PathBuf,
    kdc_config: PathBuf,
    ccache: PathBuf,
    service_keytab: PathBuf,
    rcache: PathBuf,
    dir: PathBuf,
}

impl Files {
    fn new(dir: &Path) -> Files {
        Files {
            config: dir.join("krb5.conf"),
            kdc_config: dir.join("kdc.conf"),
            ccache: dir.join("ccache"),
            service_keytab: dir.join("service.keytab"),
            rcache: dir.join("rcache"),
            dir: dir.to_path_buf(),
        }
    }

    fn user_keytab(&self, user: &str) -> PathBuf {
        self.dir.join(format!("{user}.keytab"))
    }

    fn env(&self) -> Vec<(&'static str, OsString)> {
        let mut ccache = OsString::from("FILE:");
        ccache.push(&self.ccache);
        let mut keytab = OsString::from("FILE:");
        keytab.push(&self.service_keytab);
        vec![
            ("KRB5_CONFIG", self.config.clone().into()),
            ("KRB5_KDC_PROFILE", self.kdc_config.clone().into()),
            ("KRB5CCNAME", ccache),
            ("KRB5_KTNAME", keytab),
            ("KRB5RCACHEDIR", self.rcache.clone().into()),
        ]
    }
}

fn write_config(dir: &Path, spec: &RealmSpec, port: u16) -> Result<(), Error> {
    let files = Files::new(dir);
    std::fs::create_dir_all(&files.rcache)?;
    let realm = &spec.realm;
    let host = &spec.host;
    let clockskew = spec.clockskew_seconds;
    let d = dir.display();
    // TCP first: a refused TCP connection fails at once where UDP would
    // wait for a timeout.
    std::fs::write(
        &files.config,
        format!(
            "[libdefaults]
    default_realm = {realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 1
    permitted_enctypes = {ENCTYPES}
    default_tkt_enctypes = {ENCTYPES}
    default_tgs_enctypes = {ENCTYPES}
    forwardable = false
    ticket_lifetime = 10h
    clockskew = {clockskew}

[realms]
    {realm} = {{
        kdc = 127.0.0.1:{port}
        database_module = db
    }}

[domain_realm]
    {host} = {realm}

[dbmodules]
    db = {{
        db_library = db2
        database_name = {d}/principal
    }}

[logging]
    kdc = FILE:{d}/kdc.log
"
        ),
    )?;
    std::fs::write(
        &files.kdc_config,
        format!(
            "[kdcdefaults]
    kdc_listen = 127.0.0.1:{port}
    kdc_tcp_listen = 127.0.0.1:{port}

[realms]
    {realm} = {{
        database_name = {d}/principal
        key_stash_file = {d}/stash
        acl_file = {d}/kadm5.acl
        kdc_listen = 127.0.0.1:{port}
        kdc_tcp_listen = 127.0.0.1:{port}
        master_key_type = aes256-cts-hmac-sha1-96
        supported_enctypes = {KEY_SALTS}
        max_life = 10h
        max_renewable_life = 1d
        default_principal_flags = +preauth
    }}

[logging]
    kdc = FILE:{d}/kdc.log
"
        ),
    )?;
    std::fs::write(dir.join("kadm5.acl"), "")?;
    Ok(())
}

/// A loopback port free for both TCP and UDP (the KDC listens on both).
fn free_port() -> Result<u16, Error> {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::Kdc(
        "no loopback port is free for both TCP and UDP".into(),
    ))
}

fn random_password() -> String {
    let mut bytes = [0u8; 24];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Asks the kernel to stop the KDC if the process that started it dies
/// without dropping the realm (a killed test run leaves nothing behind).
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

fn run(command: &mut Command) -> Result<(), Error> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            program: program.clone(),
            source,
        })?;
    check(&program, output)
}

fn check(program: &str, output: Output) -> Result<(), Error> {
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if text.is_empty() {
        text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    }
    Err(Error::Failed {
        program: program.to_string(),
        status: output.status.to_string(),
        output: text,
    })
}
