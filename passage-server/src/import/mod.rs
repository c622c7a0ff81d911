//! Bringing users over from Passage (or from another passage-server): the console's export as
//! JSON or CSV, with the passkeys' public keys when the team has them, so users keep their ids
//! (apps reference them) and sign in with the passkeys they have.
//!
//! An import reads the whole file first and refuses, before anything is written, a file that
//! is not what it says (not JSON, a CSV without an id column, too large). Then each row is one
//! atomic step of the store ([`Store::import_user`]): the user and its passkeys are written
//! together or not at all, and a user imported before (same id, same identifiers) is left as it
//! is and gains only the passkeys it lacks — so an import can be run again, after fixing the
//! rows it reported, and creates nothing twice. A dry run reads the same and reports what the
//! import would do without writing ([`plan_import`]).

mod credential;
mod export;
mod report;
mod rows;
mod user;
mod values;

use std::collections::HashMap;

use serde_json::Value;

pub use export::export_users;
pub use report::{ImportReport, PasskeyRefusal, Refusal, UserLine};

use crate::store::{Imported, Store, StoreError, plan_import};

/// The largest import file read.
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;
/// The most rows (users) one file may hold; split a larger export (a CSV keeps its header).
pub const MAX_ROWS: usize = 200_000;
/// The most credentials one user may bring.
const MAX_CREDENTIALS: usize = 50;
/// The most Passage devices one row may list.
const MAX_DEVICES: usize = 100;
/// The largest metadata object kept, serialized.
const MAX_METADATA_BYTES: usize = 16 * 1024;
/// The longest plain field (id, email, status, dates, …).
const MAX_TEXT: usize = 4 * 1024;

/// The format of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// A JSON array of user objects, or `{"users": [...]}`.
    Json,
    /// A CSV file with a header row.
    Csv,
}

/// How to import.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ImportOptions {
    /// Read and report only: write nothing.
    pub dry_run: bool,
    /// The file's format (default: by its name's extension, else by its content).
    pub format: Option<Format>,
    /// The relying party id (the host of the server's auth origin): passkeys made for another
    /// are not imported. Required when the file holds passkeys.
    pub relying_party: Option<String>,
    /// CSV column mappings, `HEADER=FIELD` (FIELD empty: ignore the column).
    pub columns: Vec<String>,
    /// A separate credentials file's text: a JSON array (or `{"credentials": [...]}`) of
    /// credential objects, each with the `user_id` it belongs to.
    pub credentials: Option<String>,
}

impl ImportOptions {
    /// Options for a dry run (`true`) or a real one.
    #[must_use]
    pub fn new(dry_run: bool) -> Self {
        Self {
            dry_run,
            ..Self::default()
        }
    }

    /// Sets the relying party id passkeys must be for.
    #[must_use]
    pub fn relying_party(mut self, rp_id: impl Into<String>) -> Self {
        self.relying_party = Some(rp_id.into().to_lowercase());
        self
    }

    /// Sets the format instead of guessing it.
    #[must_use]
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// Adds a CSV column mapping, `HEADER=FIELD`.
    #[must_use]
    pub fn column(mut self, mapping: impl Into<String>) -> Self {
        self.columns.push(mapping.into());
        self
    }

    /// Sets the separate credentials file's text.
    #[must_use]
    pub fn credentials(mut self, text: impl Into<String>) -> Self {
        self.credentials = Some(text.into());
        self
    }
}

/// Why an import did not run (nothing was written), or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file is over [`MAX_FILE_BYTES`].
    #[error("the file is over {} MiB: split it (a CSV keeps its header row in every part)", MAX_FILE_BYTES / 1024 / 1024)]
    TooLarge,
    /// The file holds over [`MAX_ROWS`] rows.
    #[error(
        "the file holds over {MAX_ROWS} users: split it (a CSV keeps its header row in every part)"
    )]
    TooManyRows,
    /// The file is not what it should be (the reason says where).
    #[error("{0}")]
    Malformed(String),
    /// A `--column` mapping does not read.
    #[error("--column {0}")]
    Mapping(String),
    /// The file holds passkeys but no relying party was given to check them against.
    #[error(
        "the file holds passkeys: give the server's --auth-origin (its host is the relying party the passkeys must be for)"
    )]
    RelyingPartyNeeded,
    /// The store failed; rows before this one were imported (running the import again
    /// continues: it creates nothing twice).
    #[error(
        "storage failed at row {row}: {source}; running the import again continues where it stopped"
    )]
    Store {
        /// The row being imported.
        row: usize,
        /// What the store said.
        #[source]
        source: StoreError,
    },
}

/// Imports (or, in a dry run, plans importing) the users in `text` — the file named `name`
/// (its extension tells JSON from CSV) — into `store`, with their passkeys.
///
/// # Errors
/// [`ImportError`] when the file cannot be read as a whole (nothing is written then), or the
/// store fails.
pub async fn import_users(
    store: &dyn Store,
    name: &str,
    text: &str,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let format = options.format.unwrap_or_else(|| rows::detect(name, text));
    let mapped = rows::mappings(&options.columns)?;
    let (rows, ignored_columns) = rows::read(text, format, &mapped)?;
    let mut report = ImportReport {
        dry_run: options.dry_run,
        format,
        rows: rows.len(),
        relying_party: options.relying_party.clone(),
        ignored_columns,
        ..ImportReport::default()
    };
    let mut candidates = Vec::with_capacity(rows.len());
    for row in &rows {
        match user::read(row) {
            Ok(candidate) => candidates.push(candidate),
            Err((id, reason)) => report.refused.push(Refusal {
                row: row.number,
                id,
                reason,
            }),
        }
    }
    drop(rows);
    attach_sidecar(options, &mut candidates, &mut report)?;
    if options.relying_party.is_none() && candidates.iter().any(|c| !c.credentials.is_empty()) {
        return Err(ImportError::RelyingPartyNeeded);
    }
    let candidates = without_duplicates(candidates, &mut report);
    let prepared = prepare_credentials(&candidates, options, &mut report);
    for (candidate, passkeys) in candidates.into_iter().zip(prepared) {
        let cred_ids: Vec<String> = passkeys.iter().map(|p| p.cred_id.clone()).collect();
        let unknown_handles = passkeys.iter().filter(|p| !p.handle_known).count();
        let line = |passkeys: usize| UserLine {
            row: candidate.row,
            id: candidate.user.id.clone(),
            identifier: if candidate.user.email.is_empty() {
                candidate.user.phone.clone()
            } else {
                candidate.user.email.clone()
            },
            status: candidate.user.status.clone(),
            passkeys,
            had_passkey: candidate.had_passkey,
            unknown_handles,
        };
        let outcome = if options.dry_run {
            plan_import(store, &candidate.user, &cred_ids)
                .await
                .map(|plan| match plan {
                    None => Imported::Created,
                    Some(added) => Imported::Existing { added },
                })
        } else {
            let passkeys = passkeys
                .into_iter()
                .map(|p| (p.device, p.material))
                .collect();
            store.import_user(candidate.user.clone(), passkeys).await
        };
        match outcome {
            Ok(Imported::Created) => report.created.push(line(cred_ids.len())),
            Ok(Imported::Existing { added }) => report.existing.push(line(added)),
            Err(StoreError::Refused(reason)) => report.conflicts.push(Refusal {
                row: candidate.row,
                id: candidate.user.id.clone(),
                reason: format!("{reason} (in the database)"),
            }),
            Err(source) => {
                tracing::error!(row = candidate.row, error = %source, "passage-server: the import's store failed");
                return Err(ImportError::Store {
                    row: candidate.row,
                    source,
                });
            }
        }
    }
    Ok(report)
}

/// Joins a separate credentials file's objects to the rows by `user_id`; objects for no row
/// are reported.
fn attach_sidecar(
    options: &ImportOptions,
    candidates: &mut [user::Candidate],
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let Some(text) = &options.credentials else {
        return Ok(());
    };
    if text.len() > MAX_FILE_BYTES {
        return Err(ImportError::TooLarge);
    }
    let list = rows::json_array(text, "credentials")
        .map_err(|err| ImportError::Malformed(format!("the credentials file: {err}")))?;
    let index: HashMap<String, usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (c.user.id.clone(), i))
        .collect();
    for (number, item) in list.into_iter().enumerate() {
        let refuse = |user: String, reason: &str| PasskeyRefusal {
            row: 0,
            user,
            credential: format!("credentials file #{}", number + 1),
            reason: reason.to_owned(),
        };
        let Value::Object(object) = item else {
            report
                .passkeys_refused
                .push(refuse(String::new(), "not an object"));
            continue;
        };
        let user = values::lookup(
            &object,
            &["user_id", "passage_user_id", "userid", "identity_user_id"],
        )
        .map(values::text)
        .unwrap_or_default();
        match index.get(&user).and_then(|&i| candidates.get_mut(i)) {
            Some(candidate) if candidate.credentials.len() < MAX_CREDENTIALS => {
                candidate.credentials.push(object);
            }
            Some(_) => report.passkeys_refused.push(refuse(
                user,
                &format!("over {MAX_CREDENTIALS} credentials for this user"),
            )),
            None => report
                .passkeys_refused
                .push(refuse(user, "no row of the import file has this user_id")),
        }
    }
    Ok(())
}

/// Rows that share an id, an email or a phone with another row are all conflicts: which one
/// is right is for the operator to say.
fn without_duplicates(
    candidates: Vec<user::Candidate>,
    report: &mut ImportReport,
) -> Vec<user::Candidate> {
    let mut seen: HashMap<(&str, String), Vec<usize>> = HashMap::new();
    for candidate in &candidates {
        let user = &candidate.user;
        for (kind, value) in [
            ("id", &user.id),
            ("email", &user.email),
            ("phone", &user.phone),
        ] {
            if !value.is_empty() {
                seen.entry((kind, value.clone()))
                    .or_default()
                    .push(candidate.row);
            }
        }
    }
    let mut kept = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let user = &candidate.user;
        let shared: Vec<String> = [
            ("id", &user.id),
            ("email", &user.email),
            ("phone", &user.phone),
        ]
        .into_iter()
        .filter_map(|(kind, value)| {
            let rows = seen.get(&(kind, value.clone()))?;
            let others: Vec<String> = rows
                .iter()
                .filter(|&&row| row != candidate.row)
                .map(ToString::to_string)
                .collect();
            (!value.is_empty() && !others.is_empty())
                .then(|| format!("the {kind} {value} is also on row {}", others.join(", ")))
        })
        .collect();
        if shared.is_empty() {
            kept.push(candidate);
        } else {
            report.conflicts.push(Refusal {
                row: candidate.row,
                id: candidate.user.id.clone(),
                reason: format!("duplicate in the file: {}", shared.join("; ")),
            });
        }
    }
    kept
}

/// Each candidate's credentials, checked: for this relying party, well-formed, each credential
/// on one row only. The refused ones are reported; the user is imported without them.
fn prepare_credentials(
    candidates: &[user::Candidate],
    options: &ImportOptions,
    report: &mut ImportReport,
) -> Vec<Vec<credential::Prepared>> {
    let rp = options.relying_party.clone().unwrap_or_default();
    // Credential ids first, to find those listed on two rows.
    let mut owners: HashMap<String, Vec<usize>> = HashMap::new();
    for candidate in candidates {
        let mut mine: Vec<String> = candidate
            .credentials
            .iter()
            .filter_map(|object| credential::credential_id(object).ok())
            .collect();
        mine.sort();
        mine.dedup();
        for id in mine {
            owners.entry(id).or_default().push(candidate.row);
        }
    }
    let mut all = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let mut prepared: Vec<credential::Prepared> = Vec::new();
        for (number, object) in candidate.credentials.iter().enumerate() {
            let mut refuse = |credential: String, reason: String| {
                report.passkeys_refused.push(PasskeyRefusal {
                    row: candidate.row,
                    user: candidate.user.id.clone(),
                    credential,
                    reason,
                });
            };
            let cred_id = match credential::credential_id(object) {
                Ok(id) => id,
                Err(reason) => {
                    refuse(format!("credential #{}", number + 1), reason);
                    continue;
                }
            };
            if let Some(theirs) = credential::relying_party(object)
                && theirs != rp
            {
                refuse(
                    cred_id,
                    format!("made for the relying party {theirs}; this server's is {rp}"),
                );
                continue;
            }
            let others: Vec<String> = owners
                .get(&cred_id)
                .map(|rows| {
                    rows.iter()
                        .filter(|&&row| row != candidate.row)
                        .map(ToString::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if !others.is_empty() {
                refuse(
                    cred_id,
                    format!("the same credential is on row {}", others.join(", ")),
                );
                continue;
            }
            if prepared.iter().any(|p| p.cred_id == cred_id) {
                // Listed twice for the same user: one is enough.
                continue;
            }
            match credential::prepare(object, &candidate.devices) {
                Ok(passkey) => prepared.push(passkey),
                Err(reason) => refuse(cred_id, reason),
            }
        }
        all.push(prepared);
    }
    all
}

/// Reads the relying party id (the host) of an auth origin, as the server derives it.
///
/// # Errors
/// A message when `origin` is not a URL with a domain name.
pub fn relying_party_of(origin: &str) -> Result<String, String> {
    let url = url::Url::parse(origin.trim()).map_err(|_| format!("{origin} is not a URL"))?;
    url.domain()
        .map(str::to_lowercase)
        .ok_or_else(|| format!("{origin} has no domain name"))
}
