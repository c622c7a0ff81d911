//! The rules every store applies, written once: what a new user looks like, what a change does,
//! who may add a device, what a refresh token presented now does, what opening a magic link
//! does. A store only loads the records, calls these inside its atomic step, and saves.

use serde_json::{Map, json};
use time::OffsetDateTime;

use super::{
    Change, CodeActivation, Device, DeviceRules, MagicLink, Refresh, Session, StoreError, User,
    never, now, refusals,
};
use crate::ids::random_id;

/// A new user from a seed: an identifier, a known status, the email lower-cased, and the
/// devices the seed names.
pub(crate) fn new_user(seed: super::SeedUser) -> Result<(User, Vec<Device>), StoreError> {
    let email = seed.email.unwrap_or_default().to_lowercase();
    let phone = seed.phone.unwrap_or_default();
    if email.is_empty() && phone.is_empty() {
        return Err(StoreError::Refused("email or phone is required"));
    }
    let status = seed.status.unwrap_or_else(|| "active".to_owned());
    if !matches!(status.as_str(), "active" | "inactive" | "pending") {
        return Err(StoreError::Refused(
            "status must be active, inactive or pending",
        ));
    }
    let now = now();
    let devices: Vec<Device> = seed
        .devices
        .into_iter()
        .map(|name| Device::passkey(name, random_id(), now))
        .collect();
    let user = User {
        id: seed.id.unwrap_or_else(random_id),
        email,
        phone,
        external_id: String::new(),
        email_verified: false,
        phone_verified: false,
        webauthn: false,
        login_count: 0,
        status,
        created_at: now,
        updated_at: now,
        last_login_at: never(),
        user_metadata: seed.user_metadata,
        recent_events: Vec::new(),
        social_connections: Map::new(),
        webauthn_devices: Vec::new(),
        webauthn_types: Vec::new(),
        refresh_token_revocations: 0,
        revoked_at: 0,
    };
    Ok((user, devices))
}

/// What importing `user` with passkeys does, given what the store holds: the user with that id
/// (`existing`), the ids of the users who hold its email and its phone, and the id of the user
/// who holds each passkey's credential id (`None`: nobody). `Ok(None)`: create it with every
/// passkey; `Ok(Some(indices))`: it is there already (same id, same identifiers), add the
/// passkeys at `indices`. A credential of another user, an id of a user with other identifiers,
/// or (for a new user) an identifier held by anyone refuses the whole import of the user.
pub(crate) fn import(
    user: &User,
    existing: Option<&User>,
    email_holder: Option<&str>,
    phone_holder: Option<&str>,
    credential_holders: &[Option<String>],
) -> Result<Option<Vec<usize>>, StoreError> {
    if let Some(existing) = existing {
        if existing.email != user.email || existing.phone != user.phone {
            return Err(StoreError::Refused(refusals::ID_TAKEN));
        }
        let mut add = Vec::new();
        for (index, holder) in credential_holders.iter().enumerate() {
            match holder {
                None => add.push(index),
                Some(holder) if *holder == user.id => {}
                Some(_) => return Err(StoreError::Refused(refusals::CREDENTIAL_TAKEN)),
            }
        }
        return Ok(Some(add));
    }
    if email_holder.is_some() || phone_holder.is_some() {
        return Err(StoreError::Refused(refusals::IDENTIFIER_TAKEN));
    }
    if credential_holders.iter().any(Option::is_some) {
        return Err(StoreError::Refused(refusals::CREDENTIAL_TAKEN));
    }
    Ok(None)
}

/// Whether a user with `status` and `devices` may add one under `rules`.
pub(crate) fn check_rules(
    status: &str,
    devices: usize,
    rules: DeviceRules,
) -> Result<(), StoreError> {
    if rules.first && (status != "pending" || devices > 0) {
        return Err(StoreError::Refused(refusals::NOT_FIRST));
    }
    if rules.max > 0 && devices >= rules.max {
        return Err(StoreError::Limit(refusals::TOO_MANY_DEVICES));
    }
    Ok(())
}

/// Adds `device` to `user`, keeping the derived fields right.
pub(crate) fn attach(user: &mut User, device: Device) {
    user.webauthn_devices.push(device);
    refresh_webauthn(user);
}

/// `webauthn` and `webauthn_types` follow the devices.
pub(crate) fn refresh_webauthn(user: &mut User) {
    user.webauthn = !user.webauthn_devices.is_empty();
    user.webauthn_types = if user.webauthn {
        vec!["passkey".to_owned()]
    } else {
        Vec::new()
    };
}

/// A recent-event record of a sign-in.
pub(crate) fn login_event(at: OffsetDateTime) -> serde_json::Value {
    let at = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    json!({
        "id": random_id(),
        "type": "login",
        "ip_addr": "127.0.0.1",
        "user_agent": "passage-server",
        "user_agent_display": "passage-server",
        "created_at": at,
        "completed_at": at,
        "status": "complete",
        "action": "login",
        "social_login_type": null,
    })
}

/// Applies a change (after the store checked that no other user holds its identifiers).
pub(crate) fn apply(user: &mut User, change: Change) {
    if let Some(email) = change.email {
        user.email = email.to_lowercase();
        user.email_verified = false;
    }
    if let Some(phone) = change.phone {
        user.phone = phone;
        user.phone_verified = false;
    }
    if let Some(metadata) = change.user_metadata {
        user.user_metadata = Some(metadata);
    }
    user.updated_at = now();
}

/// A status change: `inactive` also revokes (the store then ends the user's sessions).
/// Returns whether it revokes.
pub(crate) fn set_status(user: &mut User, status: &str) -> bool {
    status.clone_into(&mut user.status);
    user.updated_at = now();
    if status == "inactive" {
        revoke(user);
        true
    } else {
        false
    }
}

/// A device used to sign in: its usage counted, its last use now.
pub(crate) fn device_used(device: &mut Device) {
    let at = now();
    device.usage_count += 1;
    device.last_login_at = at;
    device.updated_at = at;
}

/// A sign-in on `user`, read under its lock: refused for an inactive user, a pending one
/// becomes active, and it counts as a login when `record`. Whether the user changed.
///
/// # Errors
/// [`StoreError::Refused`] with [`refusals::USER_INACTIVE`].
pub(crate) fn sign_in(user: &mut User, record: bool) -> Result<bool, StoreError> {
    if user.status == "inactive" {
        return Err(StoreError::Refused(refusals::USER_INACTIVE));
    }
    let mut changed = false;
    if user.status != "active" {
        set_status(user, "active");
        changed = true;
    }
    if record {
        user.record_login(now());
        changed = true;
    }
    Ok(changed)
}

/// Marks a revocation of `user`'s sessions now: tokens issued until now are refused.
pub(crate) fn revoke(user: &mut User) {
    user.revoked_at = now().unix_timestamp();
}

/// What presenting a refresh token does, given what the store holds of it at `now`: its
/// expiry, whether it was used before, and its session (`None` when gone). A rotation returns
/// the session as refreshed at `now`.
pub(crate) fn refresh(
    token_expires_at: i64,
    used: bool,
    session: Option<&Session>,
    now: i64,
) -> Refresh {
    let Some(session) = session else {
        return Refresh::Ended;
    };
    if used {
        return Refresh::Reused;
    }
    if !session.is_live(now) || now >= token_expires_at {
        return Refresh::Ended;
    }
    let mut rotated = session.clone();
    rotated.refreshed_at = now;
    Refresh::Rotated(rotated)
}

/// What opening `link` at `now` does for `user`: `None` when it cannot be opened (used,
/// expired); else whether the user is inactive (then nothing changes) or the link activated
/// (the user's address verified, the asking browser noted).
pub(crate) fn activate(
    link: &mut MagicLink,
    user: &mut User,
    browser: Option<&str>,
    now: OffsetDateTime,
) -> Option<bool> {
    // A one-time passcode is never opened as a link: its secret is a short code, which only
    // `enter_code` may check, with its tries counted.
    if link.code || link.activated || now >= link.expires_at {
        return None;
    }
    if user.status == "inactive" {
        return Some(false);
    }
    link.activated = true;
    link.same_browser = match (&link.browser, browser) {
        (Some(asked), Some(opened)) => asked == opened,
        _ => false,
    };
    user.verify_by_link(link);
    Some(true)
}

/// What entering a code whose hash is `code_hash` at `now` does to `link` (a one-time
/// passcode) and its `user`, when at most `max_tries` wrong codes are allowed: the same as
/// opening a link when it is right, one more wrong try when it is not.
pub(crate) fn enter_code(
    link: &mut MagicLink,
    user: &mut User,
    code_hash: &str,
    max_tries: u32,
    now: OffsetDateTime,
) -> CodeActivation {
    if !link.code || link.activated || now >= link.expires_at {
        return CodeActivation::Unknown;
    }
    if link.tries >= max_tries {
        return CodeActivation::Exhausted;
    }
    if user.status == "inactive" {
        return CodeActivation::Inactive;
    }
    let right = aws_lc_rs::constant_time::verify_slices_are_equal(
        link.secret_hash.as_bytes(),
        code_hash.as_bytes(),
    )
    .is_ok();
    if !right {
        link.tries += 1;
        return if link.tries >= max_tries {
            CodeActivation::Exhausted
        } else {
            CodeActivation::Wrong {
                left: max_tries - link.tries,
            }
        };
    }
    link.activated = true;
    user.verify_by_link(link);
    CodeActivation::Activated(Box::new(link.clone()))
}

/// The kinds of links that confirm a new identifier (a change asked for in the profile).
pub(crate) const CHANGE_EMAIL: &str = "change_email";
/// See [`CHANGE_EMAIL`].
pub(crate) const CHANGE_PHONE: &str = "change_phone";

/// What an opened link changes besides signing in: for a link that confirms a new identifier,
/// the user's email or phone becomes the address the link was sent to (verified: opening it
/// proved it). Returns the identifier it replaced, or `None` for other links. The store checks
/// first that no other user holds the new one.
pub(crate) fn apply_change(user: &mut User, link: &MagicLink) -> Option<String> {
    let previous = match link.kind.as_str() {
        CHANGE_EMAIL => {
            let previous = std::mem::replace(&mut user.email, link.identifier.clone());
            user.email_verified = true;
            previous
        }
        CHANGE_PHONE => {
            let previous = std::mem::replace(&mut user.phone, link.identifier.clone());
            user.phone_verified = true;
            previous
        }
        _ => return None,
    };
    user.updated_at = now();
    Some(previous)
}

/// Whether the page waiting for `link` may collect its sign-in at `now`.
pub(crate) fn collectable(link: &MagicLink, now: OffsetDateTime) -> bool {
    link.activated && link.same_browser && !link.collected && now < link.expires_at
}
