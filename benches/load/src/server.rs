//! The server under load: a `passage-server serve` child process, its two URLs, and what
//! `/proc` says about it (resident memory, CPU time).

use std::{path::Path, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
};

/// The API key the bench's server runs with.
pub(crate) const API_KEY: &str = "bench-load-api-key-0123456789";
/// The app's origin: the authenticator's origin, and the passkeys' RP id (`localhost`).
pub(crate) const ORIGIN: &str = "http://localhost:3000";

/// A running server.
pub(crate) struct Server {
    child: Child,
    pub(crate) auth_url: String,
    pub(crate) api_url: String,
}

impl Server {
    /// Starts `binary` on `database` with a sealing key in `dir`; returns once it listens.
    pub(crate) async fn start(binary: &Path, database: &str, dir: &Path) -> Self {
        let key_file = dir.join("sealing.key");
        if !key_file.exists() {
            let key = std::process::Command::new(binary)
                .arg("generate-key")
                .output()
                .unwrap();
            assert!(key.status.success(), "generate-key failed");
            std::fs::write(&key_file, &key.stdout).unwrap();
        }
        let mut child = Command::new(binary)
            .args(["serve", "--database", database, "--api-key", API_KEY])
            .args(["--auth-origin", ORIGIN])
            .args(["--auth-bind", "127.0.0.1:0", "--api-bind", "127.0.0.1:0"])
            .arg("--key-file")
            .arg(&key_file)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let banner = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("Authentication API on") {
                    return line;
                }
            }
            panic!("passage-server stopped before it listened");
        })
        .await
        .expect("passage-server did not listen within 60 s");
        // Keep reading what it prints, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let url_after = |label: &str| {
            banner
                .split(label)
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .map(|url| url.trim_end_matches(',').to_owned())
                .unwrap_or_else(|| panic!("no {label:?} in {banner:?}"))
        };
        Self {
            auth_url: url_after("Authentication API on "),
            api_url: url_after("Management API on "),
            child,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("the server runs")
    }

    /// Resident memory, in bytes.
    pub(crate) fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// CPU time used so far (user + system), in seconds.
    pub(crate) fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // Fields after the command's closing parenthesis; utime and stime are the 14th and
        // 15th fields of the line, the 12th and 13th after it.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        #[allow(clippy::cast_precision_loss)]
        let seconds = ticks as f64 / clock_ticks();
        seconds
    }

    /// Stops the server (SIGKILL: the measurements are taken).
    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux this runs on (`getconf CLK_TCK` to check).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}
