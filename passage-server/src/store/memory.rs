//! [`MemoryStore`]: everything in memory, gone when the process ends.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use serde_json::{Map, json};
use time::OffsetDateTime;

use super::{
    Change, Device, DeviceRules, MagicLink, RefreshToken, SeedUser, Store, StoreError, StoreFuture,
    StoredKey, User, never, now, refusals,
};
use crate::ids::random_id;

/// A store in memory: the emulator's, and `passage-server --dev`'s.
#[derive(Debug, Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

#[derive(Debug, Default)]
struct Data {
    users: Vec<User>,
    /// Passkey material by device id.
    passkeys: HashMap<String, String>,
    refresh_tokens: HashMap<String, RefreshToken>,
    magic_links: Vec<MagicLink>,
    keys: Vec<StoredKey>,
}

impl Data {
    fn user_mut(&mut self, id: &str) -> Result<&mut User, StoreError> {
        self.users
            .iter_mut()
            .find(|u| u.id == id)
            .ok_or(StoreError::NoSuchUser)
    }

    fn by_identifier(&self, identifier: &str) -> Option<&User> {
        let identifier = identifier.to_lowercase();
        self.users.iter().find(|u| {
            (!u.email.is_empty() && u.email == identifier)
                || (!u.phone.is_empty() && u.phone == identifier)
        })
    }
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // A panic while holding the lock cannot leave a half-written record: every change
        // below is a single assignment or push after its checks.
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A new user from a seed: the rules every store applies.
pub(crate) fn new_user(seed: SeedUser) -> Result<(User, Vec<Device>), StoreError> {
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
    };
    Ok((user, devices))
}

/// Whether a user with `status` and `devices` may add one under `rules`: every store's check.
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
        "user_agent": "passage-emulator",
        "user_agent_display": "Passage emulator",
        "created_at": at,
        "completed_at": at,
        "status": "complete",
        "action": "login",
        "social_login_type": null,
    })
}

/// Applies a change, after the duplicate check.
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

impl Store for MemoryStore {
    fn users<'a>(&'a self) -> StoreFuture<'a, Vec<User>> {
        Box::pin(async move { Ok(self.data().users.clone()) })
    }

    fn user<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move { Ok(self.data().users.iter().find(|u| u.id == id).cloned()) })
    }

    fn user_by_identifier<'a>(&'a self, identifier: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move { Ok(self.data().by_identifier(identifier).cloned()) })
    }

    fn insert_user<'a>(&'a self, seed: SeedUser) -> StoreFuture<'a, User> {
        Box::pin(async move {
            let (mut user, devices) = new_user(seed)?;
            let mut data = self.data();
            for identifier in [&user.email, &user.phone] {
                if !identifier.is_empty() && data.by_identifier(identifier).is_some() {
                    return Err(StoreError::Refused(
                        "a user with this identifier already exists",
                    ));
                }
            }
            if data.users.iter().any(|u| u.id == user.id) {
                return Err(StoreError::Refused("a user with this id already exists"));
            }
            for device in devices {
                attach(&mut user, device);
            }
            data.users.push(user.clone());
            Ok(user)
        })
    }

    fn update_user<'a>(&'a self, id: &'a str, change: Change) -> StoreFuture<'a, User> {
        Box::pin(async move {
            let mut data = self.data();
            data.user_mut(id)?;
            for identifier in [change.email.as_deref(), change.phone.as_deref()]
                .into_iter()
                .flatten()
                .filter(|i| !i.is_empty())
            {
                if data.by_identifier(identifier).is_some_and(|u| u.id != id) {
                    return Err(StoreError::Refused(
                        "a user with this identifier already exists",
                    ));
                }
            }
            let user = data.user_mut(id)?;
            apply(user, change);
            Ok(user.clone())
        })
    }

    fn set_status<'a>(&'a self, id: &'a str, status: &'a str) -> StoreFuture<'a, User> {
        Box::pin(async move {
            let mut data = self.data();
            let user = data.user_mut(id)?;
            status.clone_into(&mut user.status);
            user.updated_at = now();
            Ok(user.clone())
        })
    }

    fn delete_user<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut data = self.data();
            let user = data.user_mut(id)?.clone();
            data.users.retain(|u| u.id != id);
            for device in &user.webauthn_devices {
                data.passkeys.remove(&device.id);
            }
            data.refresh_tokens.retain(|_, t| t.user_id != id);
            data.magic_links.retain(|l| l.user_id != id);
            Ok(())
        })
    }

    fn record_login<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.data().user_mut(id)?.record_login(now());
            Ok(())
        })
    }

    fn add_device<'a>(
        &'a self,
        user_id: &'a str,
        device: Device,
        passkey: String,
        rules: DeviceRules,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut data = self.data();
            let registered = data
                .users
                .iter()
                .flat_map(|u| &u.webauthn_devices)
                .any(|d| !device.cred_id.is_empty() && d.cred_id == device.cred_id);
            if registered {
                return Err(StoreError::Refused(refusals::CREDENTIAL_TAKEN));
            }
            let user = data.user_mut(user_id)?;
            check_rules(&user.status, user.webauthn_devices.len(), rules)?;
            let device_id = device.id.clone();
            attach(data.user_mut(user_id)?, device);
            data.passkeys.insert(device_id, passkey);
            Ok(())
        })
    }

    fn passkeys<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<(Device, String)>> {
        Box::pin(async move {
            let data = self.data();
            let Some(user) = data.users.iter().find(|u| u.id == user_id) else {
                return Ok(Vec::new());
            };
            Ok(user
                .webauthn_devices
                .iter()
                .map(|d| {
                    let passkey = data.passkeys.get(&d.id).cloned().unwrap_or_default();
                    (d.clone(), passkey)
                })
                .collect())
        })
    }

    fn find_passkey<'a>(
        &'a self,
        cred_id: &'a str,
    ) -> StoreFuture<'a, Option<(User, Device, String)>> {
        Box::pin(async move {
            let data = self.data();
            Ok(data.users.iter().find_map(|user| {
                let device = user
                    .webauthn_devices
                    .iter()
                    .find(|d| d.cred_id == cred_id)?;
                let passkey = data.passkeys.get(&device.id).cloned().unwrap_or_default();
                Some((user.clone(), device.clone(), passkey))
            }))
        })
    }

    fn use_device<'a>(
        &'a self,
        user_id: &'a str,
        device_id: &'a str,
        passkey: String,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut data = self.data();
            let user = data.user_mut(user_id)?;
            let device = user
                .webauthn_devices
                .iter_mut()
                .find(|d| d.id == device_id)
                .ok_or(StoreError::NoSuchDevice)?;
            let now = now();
            device.usage_count += 1;
            device.last_login_at = now;
            device.updated_at = now;
            data.passkeys.insert(device_id.to_owned(), passkey);
            Ok(())
        })
    }

    fn revoke_device<'a>(&'a self, user_id: &'a str, device_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut data = self.data();
            let user = data.user_mut(user_id)?;
            let before = user.webauthn_devices.len();
            user.webauthn_devices.retain(|d| d.id != device_id);
            if user.webauthn_devices.len() == before {
                return Err(StoreError::NoSuchDevice);
            }
            refresh_webauthn(user);
            data.passkeys.remove(device_id);
            Ok(())
        })
    }

    fn revoke_refresh_tokens<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut data = self.data();
            data.user_mut(user_id)?.refresh_token_revocations += 1;
            data.refresh_tokens.retain(|_, t| t.user_id != user_id);
            Ok(())
        })
    }

    fn insert_refresh_token<'a>(&'a self, token: RefreshToken) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.data().refresh_tokens.insert(token.hash.clone(), token);
            Ok(())
        })
    }

    fn take_refresh_token<'a>(&'a self, hash: &'a str) -> StoreFuture<'a, Option<RefreshToken>> {
        Box::pin(async move { Ok(self.data().refresh_tokens.remove(hash)) })
    }

    fn insert_magic_link<'a>(&'a self, link: MagicLink) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.data().magic_links.push(link);
            Ok(())
        })
    }

    fn magic_link<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<MagicLink>> {
        Box::pin(async move { Ok(self.data().magic_links.iter().find(|l| l.id == id).cloned()) })
    }

    fn activate_magic_link<'a>(
        &'a self,
        secret: &'a str,
        now: OffsetDateTime,
    ) -> StoreFuture<'a, Option<MagicLink>> {
        Box::pin(async move {
            let mut data = self.data();
            let Some(link) = data
                .magic_links
                .iter_mut()
                .find(|l| l.secret == secret && !l.activated && now < l.expires_at)
            else {
                return Ok(None);
            };
            let mut activated = link.clone();
            activated.activated = true;
            // The user first: a failure leaves the link unused, as a rolled-back transaction would.
            data.user_mut(&activated.user_id)?
                .verify_by_link(&activated);
            if let Some(link) = data.magic_links.iter_mut().find(|l| l.id == activated.id) {
                link.activated = true;
            }
            Ok(Some(activated))
        })
    }

    fn collect_magic_link<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut data = self.data();
            let Some(link) = data
                .magic_links
                .iter_mut()
                .find(|l| l.id == id && l.activated && !l.collected)
            else {
                return Ok(false);
            };
            link.collected = true;
            Ok(true)
        })
    }

    fn signing_keys<'a>(&'a self) -> StoreFuture<'a, Vec<StoredKey>> {
        Box::pin(async move { Ok(self.data().keys.clone()) })
    }

    fn add_signing_key<'a>(&'a self, key: StoredKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.data().keys.push(key);
            Ok(())
        })
    }

    fn clear<'a>(&'a self) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut data = self.data();
            let keys = std::mem::take(&mut data.keys);
            *data = Data {
                keys,
                ..Data::default()
            };
            Ok(())
        })
    }
}
