//! What an import did, or (a dry run) would do: the users created, those there already, the
//! conflicts, the rows refused, the passkeys not imported, the columns ignored — and, printed,
//! the same report for both.

use std::fmt;

use super::Format;

/// A user created (or to create), or found there already.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserLine {
    /// The row in the file.
    pub row: usize,
    /// The user id.
    pub id: String,
    /// Its email, else its phone.
    pub identifier: String,
    /// Its status.
    pub status: String,
    /// Passkeys it keeps (created) or gains (there already).
    pub passkeys: usize,
    /// Whether Passage said it had a passkey.
    pub had_passkey: bool,
    /// Of its passkeys, those without a user handle (learnt at their first sign-in).
    pub unknown_handles: usize,
}

/// A row not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// The row in the file.
    pub row: usize,
    /// Its id, as written (may be empty).
    pub id: String,
    /// Why.
    pub reason: String,
}

/// A passkey not imported (its user may be), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasskeyRefusal {
    /// The user's row in the file (0: from the credentials file, for no row).
    pub row: usize,
    /// The user id.
    pub user: String,
    /// The credential id (base64url), or where it was when it has none.
    pub credential: String,
    /// Why.
    pub reason: String,
}

/// What an import did, or would do in a dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// Whether nothing was written.
    pub dry_run: bool,
    /// The file's format.
    pub format: Format,
    /// Rows read.
    pub rows: usize,
    /// The relying party passkeys were checked against.
    pub relying_party: Option<String>,
    /// Users created (or to create).
    pub created: Vec<UserLine>,
    /// Users there already, from an earlier import: unchanged but for passkeys they lacked.
    pub existing: Vec<UserLine>,
    /// Rows not imported because another user (in the database or the file) holds their id,
    /// an identifier or a credential.
    pub conflicts: Vec<Refusal>,
    /// Rows not imported because they do not read as a user.
    pub refused: Vec<Refusal>,
    /// Passkeys not imported.
    pub passkeys_refused: Vec<PasskeyRefusal>,
    /// CSV columns no field took (ignored).
    pub ignored_columns: Vec<String>,
}

impl Default for ImportReport {
    fn default() -> Self {
        Self {
            dry_run: false,
            format: Format::Json,
            rows: 0,
            relying_party: None,
            created: Vec::new(),
            existing: Vec::new(),
            conflicts: Vec::new(),
            refused: Vec::new(),
            passkeys_refused: Vec::new(),
            ignored_columns: Vec::new(),
        }
    }
}

impl ImportReport {
    /// Whether anything in the file was not (or would not be) imported: a conflict, a refused
    /// row or a refused passkey. The command's exit status.
    #[must_use]
    pub fn failed(&self) -> bool {
        !self.conflicts.is_empty() || !self.refused.is_empty() || !self.passkeys_refused.is_empty()
    }

    /// Users created (or to create) who keep at least one passkey.
    #[must_use]
    pub fn with_passkeys(&self) -> usize {
        self.created.iter().filter(|u| u.passkeys > 0).count()
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// How a user will sign in next.
fn sign_in(line: &UserLine, existing: bool) -> String {
    if existing {
        return match line.passkeys {
            0 => "unchanged".to_owned(),
            n => format!("gains {}", plural(n, "passkey", "passkeys")),
        };
    }
    if line.passkeys > 0 {
        let mut text = format!("keeps {}", plural(line.passkeys, "passkey", "passkeys"));
        if line.unknown_handles > 0 {
            text.push_str(" (user handle learnt at the first sign-in)");
        }
        return text;
    }
    let mut text = "signs in by link or code first".to_owned();
    if line.had_passkey {
        text.push_str(" (had a passkey at Passage; no key in the file)");
    }
    if line.status == "pending" {
        text.push_str(
            " (pending: removed with unfinished sign-ups after --pending-user-ttl-secs unless it signs in)",
        );
    }
    text
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (created, gain, conflict, refused) = if self.dry_run {
            (
                "to create",
                "would gain",
                "would conflict",
                "would be refused",
            )
        } else {
            ("created", "gained", "conflicted", "refused")
        };
        let format = match self.format {
            Format::Json => "JSON",
            Format::Csv => "CSV",
        };
        writeln!(
            f,
            "{} ({format}){}",
            plural(self.rows, "row", "rows"),
            if self.dry_run {
                " — dry run: nothing was written"
            } else {
                ""
            }
        )?;
        if let Some(rp) = &self.relying_party {
            writeln!(f, "relying party: {rp}")?;
        }
        if !self.ignored_columns.is_empty() {
            writeln!(
                f,
                "ignored columns (no field; map one with --column 'HEADER=FIELD'): {}",
                self.ignored_columns.join(", ")
            )?;
        }
        if !self.created.is_empty() {
            writeln!(f, "\nusers {created}:")?;
            for line in &self.created {
                writeln!(
                    f,
                    "  row {:<5} {:<24} {:<32} {:<8} {}",
                    line.row,
                    line.id,
                    line.identifier,
                    line.status,
                    sign_in(line, false)
                )?;
            }
        }
        if !self.existing.is_empty() {
            writeln!(f, "\nimported before (left as they are):")?;
            for line in &self.existing {
                writeln!(
                    f,
                    "  row {:<5} {:<24} {:<32} {}",
                    line.row,
                    line.id,
                    line.identifier,
                    sign_in(line, true)
                )?;
            }
        }
        for (title, list) in [
            ("conflicts (not imported)", &self.conflicts),
            ("refused rows (not imported)", &self.refused),
        ] {
            if !list.is_empty() {
                writeln!(f, "\n{title}:")?;
                for refusal in list {
                    let id = if refusal.id.is_empty() {
                        "(no id)"
                    } else {
                        &refusal.id
                    };
                    writeln!(f, "  row {:<5} {:<24} {}", refusal.row, id, refusal.reason)?;
                }
            }
        }
        if !self.passkeys_refused.is_empty() {
            writeln!(f, "\npasskeys not imported:")?;
            for refusal in &self.passkeys_refused {
                let row = if refusal.row == 0 {
                    "-".to_owned()
                } else {
                    refusal.row.to_string()
                };
                let credential: String = refusal.credential.chars().take(24).collect();
                writeln!(
                    f,
                    "  row {row:<5} {:<24} {credential:<24} {}",
                    refusal.user, refusal.reason
                )?;
            }
        }
        let by_link = self.created.len() - self.with_passkeys();
        let added: usize = self.existing.iter().map(|u| u.passkeys).sum();
        writeln!(
            f,
            "\n{}{} {created} ({} with a passkey, {} by link or code first), {} imported before ({} {gain} a passkey), {} {conflict}, {} {refused}, {} not imported",
            if self.failed() { "FAILED: " } else { "ok: " },
            plural(self.created.len(), "user", "users"),
            self.with_passkeys(),
            by_link,
            self.existing.len(),
            added,
            self.conflicts.len(),
            plural(self.refused.len(), "row", "rows"),
            plural(self.passkeys_refused.len(), "passkey", "passkeys"),
        )
    }
}
