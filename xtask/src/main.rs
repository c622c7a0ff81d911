//! The workspace's own tasks (`cargo xtask …`, an alias in `.cargo/config.toml`).
//!
//! ```text
//! cargo xtask test        # provision what the tests need, then run every test
//! cargo xtask provision   # only provision (install missing Debian packages when root)
//! ```
//!
//! `test` runs, in order: `cargo test --workspace` (every Rust test, Redis and PostgreSQL ones
//! included), the browser checks (`tests/browser.sh`), graceful stops (`tests/signals.sh`),
//! revocation across processes (`tests/revocation.sh`) and the official SDKs' conformance suites
//! (`tests/conformance/run.sh`), and a smoke run of the load bench on SQLite and PostgreSQL
//! (`SMOKE=1 benches/load.sh`: seconds, not a measurement).
//! Every step runs even when an earlier one failed; the summary names the failures and the exit
//! status is non-zero if any. Before anything runs, each service a test needs is found (on
//! `PATH` or where Debian puts it) or installed with `apt-get` when this runs as root on
//! Debian/Ubuntu; when it cannot be, the task stops at once with one message naming what to
//! install. The tests find the services through the variables this task sets
//! (`REDIS_SERVER`, `PASSAGE_TEST_POSTGRES_BIN`, `CHROMIUM`), so `cargo test --workspace`
//! works the same for anyone who has them.

use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    time::Instant,
};

/// A program the tests need.
struct Need {
    /// What it is, for people.
    what: &'static str,
    /// The program's name.
    program: &'static str,
    /// Directories to look in besides `PATH` (`*` matches one directory level).
    also_in: &'static [&'static str],
    /// The Debian packages that provide it.
    debian: &'static [&'static str],
    /// The variable the tests read its path from (the directory, for `dir_var`).
    var: Option<&'static str>,
    /// Whether `var` names the program's directory rather than the program.
    dir_var: bool,
    /// Who needs it.
    why: &'static str,
}

const NEEDS: &[Need] = &[
    Need {
        what: "Redis",
        program: "redis-server",
        also_in: &[],
        debian: &["redis-server"],
        var: Some("REDIS_SERVER"),
        dir_var: false,
        why: "passage-redis's replica tests, tests/revocation.sh",
    },
    Need {
        what: "PostgreSQL",
        program: "initdb",
        also_in: &["/usr/lib/postgresql/*/bin"],
        debian: &["postgresql"],
        var: Some("PASSAGE_TEST_POSTGRES_BIN"),
        dir_var: true,
        why: "passage-server's PostgreSQL store and replica tests",
    },
    Need {
        what: "Chromium",
        program: "chromium",
        also_in: &[],
        debian: &["chromium"],
        var: Some("CHROMIUM"),
        dir_var: false,
        why: "tests/browser.sh (the demo page with the real element)",
    },
    Need {
        what: "Node.js 20 or later",
        program: "node",
        also_in: &[],
        debian: &["nodejs"],
        var: None,
        dir_var: false,
        why: "tests/browser.sh, the Node SDK's conformance suite",
    },
    Need {
        what: "npm",
        program: "npm",
        also_in: &[],
        debian: &["npm"],
        var: None,
        dir_var: false,
        why: "installs the pinned front-end and SDK packages",
    },
    Need {
        what: "Python 3 (with venv)",
        program: "python3",
        also_in: &[],
        debian: &["python3", "python3-venv"],
        var: None,
        dir_var: false,
        why: "the Python SDK's conformance suite, free ports in scripts",
    },
    Need {
        what: "curl",
        program: "curl",
        also_in: &[],
        debian: &["curl"],
        var: None,
        dir_var: false,
        why: "the scripts' health checks",
    },
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("test") => match provision() {
            Ok(found) => test(&root, &found, &args[1..]),
            Err(message) => stop(&message),
        },
        Some("provision") => match provision() {
            Ok(found) => {
                for (need, path) in &found {
                    println!("{:<22} {}", need.what, path.display());
                }
                ExitCode::SUCCESS
            }
            Err(message) => stop(&message),
        },
        _ => {
            eprintln!(
                "usage: cargo xtask test [-- <cargo test arguments>]   provision the services the tests need, run every test\n       cargo xtask provision                            only provision them"
            );
            ExitCode::from(2)
        }
    }
}

fn stop(message: &str) -> ExitCode {
    eprintln!("cargo xtask: {message}");
    ExitCode::FAILURE
}

/// The workspace root: this crate's parent directory.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or(manifest.clone(), Path::to_path_buf)
}

/// Finds every program the tests need, installing the missing ones when it can; or says, in
/// one message, what to install.
fn provision() -> Result<Vec<(&'static Need, PathBuf)>, String> {
    let missing: Vec<&Need> = NEEDS.iter().filter(|need| !usable(need)).collect();
    if !missing.is_empty() {
        let packages: Vec<&str> = missing
            .iter()
            .flat_map(|need| need.debian.iter().copied())
            .collect();
        if can_install() {
            println!("== installing {} (Debian packages)", packages.join(" "));
            install(&packages)?;
        }
    }
    let still: Vec<&Need> = NEEDS.iter().filter(|need| !usable(need)).collect();
    if !still.is_empty() {
        let mut message = String::from(
            "the tests need programs this machine does not have, and this task cannot install them here (it installs Debian packages when run as root on Debian or Ubuntu):\n",
        );
        for need in &still {
            message.push_str(&format!(
                "  - {} (`{}`; Debian: apt-get install {}) for {}\n",
                need.what,
                need.program,
                need.debian.join(" "),
                need.why
            ));
        }
        message.push_str("Install them, then run `cargo xtask test` again. Nothing was run.");
        return Err(message);
    }
    let mut found = Vec::new();
    for need in NEEDS {
        if let Some(path) = locate(need) {
            // Through symbolic links: a directory variable names the real one.
            let path = if need.dir_var {
                std::fs::canonicalize(&path).unwrap_or(path)
            } else {
                path
            };
            found.push((need, path));
        }
    }
    Ok(found)
}

/// Whether `need` is there and recent enough.
fn usable(need: &Need) -> bool {
    let Some(path) = locate(need) else {
        return false;
    };
    match need.program {
        "node" => output(&path, &["-p", "process.versions.node.split('.')[0]"])
            .and_then(|major| major.trim().parse::<u32>().ok())
            .is_some_and(|major| major >= 20),
        "python3" => Command::new(&path)
            .args(["-c", "import venv, ensurepip"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        _ => true,
    }
}

/// The program's path: its variable when set, `PATH`, then the extra directories.
fn locate(need: &Need) -> Option<PathBuf> {
    if let Some(var) = need.var
        && let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty())
    {
        let path = PathBuf::from(value);
        let program = if need.dir_var {
            path.join(need.program)
        } else {
            path
        };
        return program.is_file().then_some(program);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    let extra = need.also_in.iter().flat_map(|pattern| expand(pattern));
    on_path
        .into_iter()
        .chain(extra)
        .map(|dir| dir.join(need.program))
        .find(|candidate| candidate.is_file())
}

/// `pattern` with `*` standing for one directory level (the highest version first).
fn expand(pattern: &str) -> Vec<PathBuf> {
    let Some((before, after)) = pattern.split_once('*') else {
        return vec![PathBuf::from(pattern)];
    };
    let Ok(entries) = std::fs::read_dir(before) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path().join(after.trim_start_matches('/')))
        .filter(|dir| dir.is_dir())
        .collect();
    dirs.sort_by_key(|dir| {
        std::cmp::Reverse(
            dir.components()
                .filter_map(|c| c.as_os_str().to_str()?.parse::<u32>().ok())
                .next_back()
                .unwrap_or(0),
        )
    });
    dirs
}

fn output(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Root on a system with apt-get.
fn can_install() -> bool {
    let root = output(Path::new("id"), &["-u"]).is_some_and(|uid| uid.trim() == "0");
    root && Path::new("/usr/bin/apt-get").is_file()
}

/// `apt-get install` with retries (mirrors can be briefly unreachable).
fn install(packages: &[&str]) -> Result<(), String> {
    for attempt in 1..=3 {
        let updated = apt(&["update", "-qq"]);
        let mut args = vec!["install", "-y", "-qq"];
        args.extend_from_slice(packages);
        if updated && apt(&args) {
            return Ok(());
        }
        eprintln!("apt-get failed (attempt {attempt} of 3)");
        std::thread::sleep(std::time::Duration::from_secs(attempt * 10));
    }
    Err(format!(
        "apt-get install {} failed three times; install them by hand, then run `cargo xtask test` again. Nothing was run.",
        packages.join(" ")
    ))
}

fn apt(args: &[&str]) -> bool {
    Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs every step, with the services' variables set; prints a summary.
fn test(root: &Path, found: &[(&Need, PathBuf)], cargo_args: &[String]) -> ExitCode {
    let mut env: Vec<(&str, PathBuf)> = Vec::new();
    for (need, path) in found {
        if let Some(var) = need.var {
            let value = if need.dir_var {
                path.parent()
                    .map_or_else(|| path.clone(), Path::to_path_buf)
            } else {
                path.clone()
            };
            env.push((var, value));
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut test_args = vec![
        "test".to_owned(),
        "--workspace".to_owned(),
        "--locked".to_owned(),
        "--no-fail-fast".to_owned(),
    ];
    test_args.extend(cargo_args.iter().filter(|a| *a != "--").cloned());
    let steps: Vec<(&str, String, Vec<String>)> = vec![
        ("cargo test --workspace", cargo.clone(), test_args),
        (
            "browser checks (tests/browser.sh)",
            "bash".into(),
            vec!["tests/browser.sh".into()],
        ),
        (
            "graceful stops on SIGTERM and SIGINT (tests/signals.sh)",
            "bash".into(),
            vec!["tests/signals.sh".into()],
        ),
        (
            "revocation across processes (tests/revocation.sh)",
            "bash".into(),
            vec!["tests/revocation.sh".into()],
        ),
        (
            "official SDKs' conformance (tests/conformance/run.sh)",
            "bash".into(),
            vec!["tests/conformance/run.sh".into()],
        ),
        (
            "the load bench, a smoke run (SMOKE=1 benches/load.sh)",
            "env".into(),
            vec!["SMOKE=1".into(), "bash".into(), "benches/load.sh".into()],
        ),
    ];
    let mut failed = Vec::new();
    let mut counts = (0u64, 0u64, 0u64);
    for (name, program, args) in &steps {
        println!("== {name}");
        let started = Instant::now();
        let ok = run(root, program, args, &env, &mut counts);
        println!(
            "== {name}: {} in {:.0} s",
            if ok { "ok" } else { "FAILED" },
            started.elapsed().as_secs_f64()
        );
        if !ok {
            failed.push(*name);
        }
    }
    println!(
        "== Rust tests: {} passed, {} failed, {} ignored",
        counts.0, counts.1, counts.2
    );
    if failed.is_empty() {
        println!("== every step passed");
        ExitCode::SUCCESS
    } else {
        println!("== failed: {}", failed.join("; "));
        ExitCode::FAILURE
    }
}

/// Runs a step, echoing its output, and adds up cargo's `test result:` lines.
fn run(
    root: &Path,
    program: &str,
    args: &[String],
    env: &[(&str, PathBuf)],
    counts: &mut (u64, u64, u64),
) -> bool {
    let mut command = Command::new(program);
    command.args(args).current_dir(root).stdout(Stdio::piped());
    for (var, value) in env {
        command.env(var, value);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            eprintln!("cannot run {program}: {err}");
            return false;
        }
    };
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(result) = line.strip_prefix("test result: ") {
                // "ok. 3 passed; 0 failed; 1 ignored; …"
                let number = |label: &str| {
                    result
                        .split(';')
                        .find_map(|part| {
                            let words: Vec<&str> = part.split_whitespace().collect();
                            match words.as_slice() {
                                [.., n, word] if *word == label => n.parse::<u64>().ok(),
                                _ => None,
                            }
                        })
                        .unwrap_or(0)
                };
                counts.0 += number("passed");
                counts.1 += number("failed");
                counts.2 += number("ignored");
            }
        }
    }
    child.wait().is_ok_and(|status| status.success())
}
