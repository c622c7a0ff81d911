//! A real PostgreSQL for a test: Debian's server programs (`initdb`, `postgres`) on a free
//! loopback port, everything in a temporary directory (its Unix socket too), trust
//! authentication, stopped on drop. One server per test function (`initdb` takes a while); each
//! case gets a database of its own ([`PostgresServer::database`]).
//!
//! The programs are found through `PASSAGE_TEST_POSTGRES_BIN` (their directory, which `cargo
//! xtask test` sets), else `PATH`, else `/usr/lib/postgresql/*/bin`. PostgreSQL refuses to run as
//! root: as root (here and in CI), the directory is handed to the `postgres` system user (the
//! Debian package creates it) and the programs run as that user (`setpriv`, which runs the
//! program in place: the child is the server itself, so stopping it stops the server).

use std::{
    io::Read as _,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const MISSING: &str = "these tests need a real PostgreSQL: `cargo xtask test` installs it (as root on Debian/Ubuntu) and runs every test; or `apt-get install postgresql`, or set PASSAGE_TEST_POSTGRES_BIN to the directory that holds initdb and postgres (e.g. /usr/lib/postgresql/15/bin)";

pub(crate) struct PostgresServer {
    pub(crate) port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// The CA that signed the server's certificate, when it serves TLS.
    pub(crate) ca: Option<PathBuf>,
}

/// The directory of PostgreSQL's server programs.
fn programs() -> PathBuf {
    let has_initdb = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("PASSAGE_TEST_POSTGRES_BIN").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        assert!(
            has_initdb(&dir),
            "PASSAGE_TEST_POSTGRES_BIN={} holds no initdb and postgres: {MISSING}",
            dir.display()
        );
        return dir;
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("initdb"))
        .filter(|initdb| initdb.is_file())
        // Through symbolic links, to the directory that holds `postgres` beside it.
        .filter_map(|initdb| {
            std::fs::canonicalize(initdb)
                .ok()?
                .parent()
                .map(Path::to_path_buf)
        });
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    debian.sort_by_key(|dir| {
        std::cmp::Reverse(
            dir.parent()
                .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
                .unwrap_or(0),
        )
    });
    on_path
        .chain(debian)
        .find(|dir| has_initdb(dir))
        .unwrap_or_else(|| panic!("PostgreSQL's initdb and postgres were not found: {MISSING}"))
}

/// The `postgres` user's uid and gid, when this runs as root (PostgreSQL refuses root).
fn run_as() -> Option<(u32, u32)> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let ids = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&"postgres") && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    });
    Some(ids.unwrap_or_else(|| {
        panic!("running as root, and PostgreSQL refuses root: it needs the `postgres` system user, which the Debian package creates: {MISSING}")
    }))
}

/// `program` from `bin`, as the `postgres` user when this is root.
fn command(bin: &Path, program: &str, user: Option<(u32, u32)>) -> Command {
    match user {
        Some((uid, gid)) => {
            let mut command = Command::new("setpriv");
            command
                .arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(bin.join(program));
            command
        }
        None => Command::new(bin.join(program)),
    }
}

fn chown(path: &Path, user: Option<(u32, u32)>) {
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PostgresServer {
    /// A server without TLS.
    pub(crate) fn start() -> Self {
        Self::launch(false)
    }

    /// A server that also speaks TLS, with a certificate for `localhost` and `127.0.0.1` signed
    /// by a CA made for it ([`ca`](Self::ca)).
    pub(crate) fn start_with_tls() -> Self {
        Self::launch(true)
    }

    fn launch(tls: bool) -> Self {
        let bin = programs();
        let user = run_as();
        let dir = tempfile::tempdir().unwrap();
        chown(dir.path(), user);
        let data = dir.path().join("data");
        let sockets = dir.path().join("sockets");
        std::fs::create_dir(&sockets).unwrap();
        chown(&sockets, user);
        let initdb = command(&bin, "initdb", user)
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"])
            .args(["--no-sync", "--no-instructions"])
            .current_dir(dir.path())
            .output()
            .unwrap_or_else(|err| {
                panic!(
                    "initdb in {} does not run ({err}): {MISSING}",
                    bin.display()
                )
            });
        assert!(
            initdb.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&initdb.stdout),
            String::from_utf8_lossy(&initdb.stderr)
        );
        let mut settings = vec![
            "listen_addresses=127.0.0.1".to_owned(),
            "fsync=off".to_owned(),
            "synchronous_commit=off".to_owned(),
            "full_page_writes=off".to_owned(),
            "max_connections=200".to_owned(),
        ];
        let ca = tls.then(|| {
            let (ca, cert, key) = certificates(dir.path(), user);
            settings.push("ssl=on".to_owned());
            settings.push(format!("ssl_cert_file={}", cert.display()));
            settings.push(format!("ssl_key_file={}", key.display()));
            ca
        });
        let port = free_port();
        let log = dir.path().join("postgres.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let mut server = command(&bin, "postgres", user);
        server
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .arg("-k")
            .arg(&sockets)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(Stdio::from(log_file));
        for setting in &settings {
            server.args(["-c", setting]);
        }
        let child = server
            .spawn()
            .unwrap_or_else(|err| panic!("postgres does not run ({err}): {MISSING}"));
        let mut started = Self {
            port,
            dir,
            child: Some(child),
            ca,
        };
        started.wait_ready(&bin, &log);
        started
    }

    /// Waits until the server accepts connections (`pg_isready`), or says why it did not.
    fn wait_ready(&mut self, bin: &Path, log: &Path) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(bin.join("pg_isready"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let mut text = String::new();
                let _ = std::fs::File::open(log).and_then(|mut f| f.read_to_string(&mut text));
                panic!(
                    "postgres did not start on port {} ({exited:?}): {text}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The URL of database `name` (no password: trust authentication).
    pub(crate) fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// A plain connection to database `name`, as the test's own hand on the database.
    pub(crate) async fn admin(&self, name: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url(name), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// Creates database `name` and gives its URL.
    pub(crate) async fn database(&self, name: &str) -> String {
        self.admin("postgres")
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        self.url(name)
    }
}

/// A CA and a server certificate it signed (for `localhost` and `127.0.0.1`), made with the
/// `openssl` program; the key readable by the server's user only, as PostgreSQL requires.
fn certificates(dir: &Path, user: Option<(u32, u32)>) -> (PathBuf, PathBuf, PathBuf) {
    let tls = dir.join("tls");
    std::fs::create_dir(&tls).unwrap();
    std::fs::write(
        tls.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&tls)
            .output()
            .unwrap_or_else(|err| panic!("openssl does not run ({err}): the TLS test makes its certificates with it (apt-get install openssl)"));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=passage test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    for file in ["server.pem", "server.key"] {
        chown(&tls.join(file), user);
    }
    chown(&tls, user);
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            tls.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    (
        tls.join("ca.pem"),
        tls.join("server.pem"),
        tls.join("server.key"),
    )
}

impl Drop for PostgresServer {
    /// A fast shutdown (SIGINT: connections closed, nothing flushed that a test needs), then a
    /// kill if it lingers.
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = &self.dir;
    }
}
