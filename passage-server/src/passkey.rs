//! A passkey as the store keeps it (the device's opaque material): webauthn-rs's `Passkey`
//! JSON, plus what an imported passkey brings that webauthn-rs does not keep — the user handle
//! its authenticator holds (the one another server gave it, not the one this server derives
//! from the user id) and its AAGUID.
//!
//! The form is webauthn-rs's own object with two optional keys beside `cred`, so material kept
//! before imports existed reads as it always did, and this server's own passkeys are stored
//! exactly as before.

use aws_lc_rs::digest;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use webauthn_rs::prelude::{Credential, Passkey, Uuid};

/// A stored passkey: the webauthn-rs credential and what an import adds.
#[derive(Debug, Clone)]
pub(crate) struct Material {
    /// The credential webauthn-rs verifies assertions with.
    pub(crate) passkey: Passkey,
    /// The user handle the authenticator holds when it is not this server's (imported).
    pub(crate) user_handle: Option<Vec<u8>>,
    /// An imported passkey whose user handle the import did not know: the first sign-in's is
    /// kept (the assertion's signature proves the key; the handle is not signed anyway).
    pub(crate) user_handle_unknown: bool,
    /// An imported passkey whose backup eligibility the import did not know: the first
    /// sign-in's flag is kept (webauthn-rs refuses a credential whose eligibility changes).
    pub(crate) backup_eligible_unknown: bool,
    /// The authenticator's AAGUID, when an import said.
    pub(crate) aaguid: Option<Uuid>,
}

fn is_false(value: &bool) -> bool {
    !value
}

/// The keys beside `cred`.
#[derive(Default, Serialize, Deserialize)]
struct Extra {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_handle: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    user_handle_unknown: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    backup_eligible_unknown: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aaguid: Option<Uuid>,
}

/// The WebAuthn user handle this server gives a user's passkeys: 16 bytes derived from the user
/// id, so a discoverable sign-in can be checked against the user who owns the credential.
pub(crate) fn derived_handle(user_id: &str) -> Uuid {
    let digest = digest::digest(&digest::SHA256, user_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    Uuid::from_bytes(bytes)
}

impl Material {
    /// A passkey this server registered (its user handle is the derived one).
    pub(crate) fn new(passkey: Passkey) -> Self {
        Self {
            passkey,
            user_handle: None,
            user_handle_unknown: false,
            backup_eligible_unknown: false,
            aaguid: None,
        }
    }

    /// Reads stored material.
    ///
    /// # Errors
    /// The JSON error when it is not a stored passkey.
    pub(crate) fn parse(text: &str) -> Result<Self, serde_json::Error> {
        let passkey: Passkey = serde_json::from_str(text)?;
        let extra: Extra = serde_json::from_str(text)?;
        let user_handle = match extra.user_handle {
            Some(handle) => Some(URL_SAFE_NO_PAD.decode(handle).map_err(|_| {
                <serde_json::Error as serde::de::Error>::custom("user_handle is not base64url")
            })?),
            None => None,
        };
        Ok(Self {
            passkey,
            user_handle,
            user_handle_unknown: extra.user_handle_unknown,
            backup_eligible_unknown: extra.backup_eligible_unknown,
            aaguid: extra.aaguid,
        })
    }

    /// The stored form.
    ///
    /// # Errors
    /// The JSON error (never expected: every part serializes).
    pub(crate) fn to_text(&self) -> Result<String, serde_json::Error> {
        let mut value = serde_json::to_value(&self.passkey)?;
        let extra = serde_json::to_value(Extra {
            user_handle: self
                .user_handle
                .as_deref()
                .map(|h| URL_SAFE_NO_PAD.encode(h)),
            user_handle_unknown: self.user_handle_unknown,
            backup_eligible_unknown: self.backup_eligible_unknown,
            aaguid: self.aaguid,
        })?;
        if let (Some(fields), Value::Object(extra)) = (value.as_object_mut(), extra) {
            fields.extend(extra);
        }
        serde_json::to_string(&value)
    }

    /// The user handle the passkey's authenticator holds for `user_id`.
    pub(crate) fn user_handle(&self, user_id: &str) -> Vec<u8> {
        self.user_handle
            .clone()
            .unwrap_or_else(|| derived_handle(user_id).as_bytes().to_vec())
    }

    /// Whether `presented` (the assertion's user handle) is this passkey's for `user_id`; an
    /// imported passkey whose handle was not known takes the first one presented.
    pub(crate) fn check_handle(&mut self, user_id: &str, presented: Option<&[u8]>) -> bool {
        let Some(presented) = presented else {
            return false;
        };
        if self.user_handle_unknown {
            self.user_handle = Some(presented.to_vec());
            self.user_handle_unknown = false;
            return true;
        }
        presented == self.user_handle(user_id).as_slice()
    }

    /// An imported passkey whose backup eligibility was not known takes the one the
    /// authenticator reports now (`authenticator_data`: the assertion's).
    pub(crate) fn learn_backup_eligibility(&mut self, authenticator_data: &[u8]) {
        if !self.backup_eligible_unknown {
            return;
        }
        let Some(flags) = authenticator_data.get(32) else {
            return;
        };
        let mut credential = Credential::from(self.passkey.clone());
        credential.backup_eligible = flags & 0x08 != 0;
        self.passkey = Passkey::from(credential);
        self.backup_eligible_unknown = false;
    }

    /// The sign counter (webauthn-rs keeps it private; it is in the serialized form).
    pub(crate) fn sign_count(&self) -> u32 {
        serde_json::to_value(&self.passkey)
            .ok()
            .and_then(|value| value.pointer("/cred/counter").and_then(Value::as_u64))
            .and_then(|counter| u32::try_from(counter).ok())
            .unwrap_or(0)
    }
}
