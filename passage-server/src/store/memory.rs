//! [`MemoryStore`]: everything in memory, gone when the process ends. The emulator's, and
//! `passage-server --dev`'s without a database. One lock: every operation is atomic.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, MutexGuard},
};

use time::OffsetDateTime;

use super::{
    Activation, Change, CodeActivation, Device, DeviceRules, Handshake, Imported, MagicLink,
    Refresh, RefreshToken, SeedUser, Session, SignIn, Store, StoreError, StoreFuture, StoredKey,
    User, UserPage, UserQuery, now, refusals, rules,
};

/// A store in memory: the emulator's, and `passage-server --dev`'s.
#[derive(Debug, Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

/// A refresh token as kept, with whether it was used.
#[derive(Debug, Clone)]
struct Token {
    token: RefreshToken,
    used: bool,
}

#[derive(Debug, Default)]
struct Data {
    users: Vec<User>,
    /// Passkey material by device id.
    passkeys: HashMap<String, String>,
    sessions: HashMap<String, Session>,
    refresh_tokens: HashMap<String, Token>,
    magic_links: Vec<MagicLink>,
    handshakes: HashMap<String, Handshake>,
    /// Message times (ms) by key, oldest first.
    sends: HashMap<String, VecDeque<i64>>,
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

    /// Ends every session of `user_id` and removes their refresh tokens.
    fn end_sessions(&mut self, user_id: &str) {
        for session in self.sessions.values_mut() {
            if session.user_id == user_id {
                session.ended = true;
            }
        }
        self.refresh_tokens
            .retain(|_, token| token.token.user_id != user_id);
    }

    /// Ends one session and removes its refresh tokens.
    fn end_session(&mut self, session_id: &str) {
        if let Some(session) = self.sessions.get_mut(session_id) {
            session.ended = true;
        }
        self.refresh_tokens
            .retain(|_, token| token.token.session_id != session_id);
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

impl Store for MemoryStore {
    fn list_users<'a>(&'a self, query: &'a UserQuery) -> StoreFuture<'a, UserPage> {
        Box::pin(async move {
            let data = self.data();
            let mut users: Vec<&User> = data.users.iter().filter(|u| query.matches(u)).collect();
            users.sort_by(|a, b| query.compare(a, b));
            Ok(UserPage {
                total: users.len(),
                users: users
                    .into_iter()
                    .skip(query.offset)
                    .take(query.limit)
                    .cloned()
                    .collect(),
            })
        })
    }

    fn user<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move { Ok(self.data().users.iter().find(|u| u.id == id).cloned()) })
    }

    fn user_by_identifier<'a>(&'a self, identifier: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move { Ok(self.data().by_identifier(identifier).cloned()) })
    }

    fn insert_user<'a>(&'a self, seed: SeedUser) -> StoreFuture<'a, User> {
        Box::pin(async move {
            let (mut user, devices) = rules::new_user(seed)?;
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
                rules::attach(&mut user, device);
            }
            data.users.push(user.clone());
            Ok(user)
        })
    }

    fn import_user<'a>(
        &'a self,
        mut user: User,
        passkeys: Vec<(Device, String)>,
    ) -> StoreFuture<'a, Imported> {
        Box::pin(async move {
            let mut data = self.data();
            let holder = |identifier: &str| {
                (!identifier.is_empty())
                    .then(|| data.by_identifier(identifier).map(|u| u.id.clone()))
                    .flatten()
            };
            let (email_holder, phone_holder) = (holder(&user.email), holder(&user.phone));
            let credential_holders: Vec<Option<String>> = passkeys
                .iter()
                .map(|(device, _)| {
                    data.users
                        .iter()
                        .find(|u| {
                            u.webauthn_devices
                                .iter()
                                .any(|d| d.cred_id == device.cred_id)
                        })
                        .map(|u| u.id.clone())
                })
                .collect();
            let existing = data.users.iter().find(|u| u.id == user.id);
            let step = rules::import(
                &user,
                existing,
                email_holder.as_deref(),
                phone_holder.as_deref(),
                &credential_holders,
            )?;
            let (target, add, outcome) = match step {
                None => {
                    user.set_devices(Vec::new());
                    data.users.push(user.clone());
                    let count = passkeys.len();
                    (user.id, (0..count).collect::<Vec<_>>(), Imported::Created)
                }
                Some(add) => {
                    let added = add.len();
                    (user.id, add, Imported::Existing { added })
                }
            };
            let mut passkeys: Vec<Option<(Device, String)>> =
                passkeys.into_iter().map(Some).collect();
            for index in add {
                if let Some((device, material)) = passkeys.get_mut(index).and_then(Option::take) {
                    data.passkeys.insert(device.id.clone(), material);
                    rules::attach(data.user_mut(&target)?, device);
                }
            }
            Ok(outcome)
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
            rules::apply(user, change);
            Ok(user.clone())
        })
    }

    fn set_status<'a>(&'a self, id: &'a str, status: &'a str) -> StoreFuture<'a, User> {
        Box::pin(async move {
            let mut data = self.data();
            let user = data.user_mut(id)?;
            let revokes = rules::set_status(user, status);
            let user = user.clone();
            if revokes {
                data.end_sessions(id);
            }
            Ok(user)
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
            data.end_sessions(id);
            data.sessions.retain(|_, s| s.user_id != id);
            data.magic_links.retain(|l| l.user_id != id);
            data.handshakes
                .retain(|_, h| h.user_id.as_deref() != Some(id));
            Ok(())
        })
    }

    fn record_login<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.data().user_mut(id)?.record_login(now());
            Ok(())
        })
    }

    fn expire_pending<'a>(&'a self, before: OffsetDateTime, keep: usize) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let mut data = self.data();
            let mut unfinished: Vec<&User> = data
                .users
                .iter()
                .filter(|u| {
                    u.status == "pending" && u.webauthn_devices.is_empty() && u.login_count == 0
                })
                .collect();
            // Newest first: the first `keep` may stay, unless too old.
            unfinished.sort_by_key(|u| std::cmp::Reverse(u.created_at));
            let expired: Vec<String> = unfinished
                .iter()
                .enumerate()
                .filter(|(n, u)| *n >= keep || u.created_at < before)
                .map(|(_, u)| u.id.clone())
                .collect();
            data.users.retain(|u| !expired.contains(&u.id));
            data.magic_links.retain(|l| !expired.contains(&l.user_id));
            data.handshakes.retain(|_, h| {
                h.user_id
                    .as_ref()
                    .is_none_or(|user| !expired.contains(user))
            });
            Ok(expired.len())
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
            rules::check_rules(&user.status, user.webauthn_devices.len(), rules)?;
            let device_id = device.id.clone();
            rules::attach(user, device);
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
                    .find(|d| !d.cred_id.is_empty() && d.cred_id == cred_id)?;
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
            rules::device_used(device);
            data.passkeys.insert(device_id.to_owned(), passkey);
            Ok(())
        })
    }

    fn rename_device<'a>(
        &'a self,
        user_id: &'a str,
        device_id: &'a str,
        name: &'a str,
    ) -> StoreFuture<'a, Device> {
        Box::pin(async move {
            let mut data = self.data();
            let user = data.user_mut(user_id)?;
            let device = user
                .webauthn_devices
                .iter_mut()
                .find(|d| d.id == device_id)
                .ok_or(StoreError::NoSuchDevice)?;
            name.clone_into(&mut device.friendly_name);
            device.updated_at = now();
            Ok(device.clone())
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
            rules::refresh_webauthn(user);
            data.passkeys.remove(device_id);
            Ok(())
        })
    }

    fn revoke_sessions<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut data = self.data();
            let user = data.user_mut(user_id)?;
            rules::revoke(user);
            user.refresh_token_revocations = user.refresh_token_revocations.saturating_add(1);
            data.end_sessions(user_id);
            Ok(())
        })
    }

    fn start_session<'a>(&'a self, session: Session, token: RefreshToken) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut data = self.data();
            data.user_mut(&session.user_id)?;
            data.refresh_tokens
                .insert(token.hash.clone(), Token { token, used: false });
            data.sessions.insert(session.id.clone(), session);
            Ok(())
        })
    }

    fn sign_in(&self, sign_in: SignIn) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let SignIn {
                passkey,
                record_login,
                session,
                token,
            } = sign_in;
            let mut data = self.data();
            // Every check before any change: the step is all or nothing.
            let mut user = data.user_mut(&session.user_id)?.clone();
            rules::sign_in(&mut user, record_login)?;
            if let Some(used) = &passkey {
                let device = user
                    .webauthn_devices
                    .iter_mut()
                    .find(|d| d.id == used.device_id)
                    .ok_or(StoreError::NoSuchDevice)?;
                if data.passkeys.get(&used.device_id) != Some(&used.before) {
                    return Err(StoreError::Refused(refusals::PASSKEY_CHANGED));
                }
                rules::device_used(device);
            }
            *data.user_mut(&session.user_id)? = user;
            if let Some(used) = passkey {
                data.passkeys.insert(used.device_id, used.after);
            }
            data.refresh_tokens
                .insert(token.hash.clone(), Token { token, used: false });
            data.sessions.insert(session.id.clone(), session);
            Ok(())
        })
    }

    fn session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Session>> {
        Box::pin(async move { Ok(self.data().sessions.get(id).cloned()) })
    }

    fn refresh<'a>(
        &'a self,
        hash: &'a str,
        mut next: RefreshToken,
        now: i64,
    ) -> StoreFuture<'a, Refresh> {
        Box::pin(async move {
            let mut data = self.data();
            let Some(token) = data.refresh_tokens.get(hash).cloned() else {
                return Ok(Refresh::Unknown);
            };
            let session = data.sessions.get(&token.token.session_id).cloned();
            let outcome = rules::refresh(token.token.expires_at, token.used, session.as_ref(), now);
            match &outcome {
                Refresh::Rotated(session) => {
                    if let Some(token) = data.refresh_tokens.get_mut(hash) {
                        token.used = true;
                    }
                    if let Some(kept) = data.sessions.get_mut(&session.id) {
                        kept.refreshed_at = now;
                    }
                    next.session_id.clone_from(&session.id);
                    next.user_id.clone_from(&session.user_id);
                    next.expires_at = next.expires_at.min(session.expires_at);
                    data.refresh_tokens.insert(
                        next.hash.clone(),
                        Token {
                            token: next,
                            used: false,
                        },
                    );
                }
                Refresh::Reused | Refresh::Ended => {
                    data.end_session(&token.token.session_id);
                }
                Refresh::Unknown => {}
            }
            Ok(outcome)
        })
    }

    fn end_session<'a>(&'a self, hash: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut data = self.data();
            if let Some(session_id) = data
                .refresh_tokens
                .get(hash)
                .map(|t| t.token.session_id.clone())
            {
                data.end_session(&session_id);
            }
            Ok(())
        })
    }

    fn purge_sessions<'a>(&'a self, now: i64) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let mut data = self.data();
            let before = data.sessions.len();
            data.sessions.retain(|_, s| s.is_live(now));
            let Data {
                sessions,
                refresh_tokens,
                ..
            } = &mut *data;
            refresh_tokens.retain(|_, t| {
                sessions.contains_key(&t.token.session_id) && now < t.token.expires_at
            });
            Ok(before - data.sessions.len())
        })
    }

    fn insert_magic_link<'a>(&'a self, link: MagicLink) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.data().magic_links.push(link.without_secret());
            Ok(())
        })
    }

    fn magic_link<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<MagicLink>> {
        Box::pin(async move { Ok(self.data().magic_links.iter().find(|l| l.id == id).cloned()) })
    }

    fn activate_magic_link<'a>(
        &'a self,
        secret_hash: &'a str,
        browser: Option<&'a str>,
        now: OffsetDateTime,
    ) -> StoreFuture<'a, Activation> {
        Box::pin(async move {
            let mut data = self.data();
            let Some(index) = data
                .magic_links
                .iter()
                .position(|l| l.secret_hash == secret_hash)
            else {
                return Ok(Activation::Unknown);
            };
            let mut link = data.magic_links[index].clone();
            let mut user = data.user_mut(&link.user_id)?.clone();
            match rules::activate(&mut link, &mut user, browser, now) {
                None => Ok(Activation::Unknown),
                Some(false) => Ok(Activation::Inactive),
                Some(true) => {
                    let previous = rules::apply_change(&mut user, &link);
                    if previous.is_some()
                        && data
                            .by_identifier(&link.identifier)
                            .is_some_and(|other| other.id != user.id)
                    {
                        return Err(StoreError::Refused(
                            "a user with this identifier already exists",
                        ));
                    }
                    let id = user.id.clone();
                    *data.user_mut(&id)? = user;
                    data.magic_links[index] = link.clone();
                    Ok(Activation::done(link, previous))
                }
            }
        })
    }

    fn activate_code<'a>(
        &'a self,
        id: &'a str,
        code_hash: &'a str,
        max_tries: u32,
        now: OffsetDateTime,
    ) -> StoreFuture<'a, CodeActivation> {
        Box::pin(async move {
            let mut data = self.data();
            let Some(index) = data.magic_links.iter().position(|l| l.id == id) else {
                return Ok(CodeActivation::Unknown);
            };
            let mut link = data.magic_links[index].clone();
            let mut user = data.user_mut(&link.user_id)?.clone();
            let outcome = rules::enter_code(&mut link, &mut user, code_hash, max_tries, now);
            if let CodeActivation::Activated(_) = outcome {
                let id = user.id.clone();
                *data.user_mut(&id)? = user;
            }
            data.magic_links[index] = link;
            Ok(outcome)
        })
    }

    fn purge_links<'a>(&'a self, now: OffsetDateTime) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let mut data = self.data();
            let before = data.magic_links.len();
            data.magic_links.retain(|l| now < l.expires_at);
            Ok(before - data.magic_links.len())
        })
    }

    fn collect_magic_link<'a>(&'a self, id: &'a str, now: OffsetDateTime) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut data = self.data();
            let Some(link) = data
                .magic_links
                .iter_mut()
                .find(|l| l.id == id && rules::collectable(l, now))
            else {
                return Ok(false);
            };
            link.collected = true;
            Ok(true)
        })
    }

    fn put_handshake<'a>(
        &'a self,
        id: &'a str,
        handshake: Handshake,
        capacity: usize,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut data = self.data();
            if data.handshakes.len() >= capacity {
                let now = now().unix_timestamp();
                data.handshakes.retain(|_, h| now < h.expires_at);
            }
            while data.handshakes.len() >= capacity.max(1) {
                let oldest = data
                    .handshakes
                    .iter()
                    .min_by_key(|(_, h)| h.expires_at)
                    .map(|(id, _)| id.clone());
                match oldest {
                    Some(oldest) => data.handshakes.remove(&oldest),
                    None => break,
                };
            }
            data.handshakes.insert(id.to_owned(), handshake);
            Ok(())
        })
    }

    fn take_handshake<'a>(&'a self, id: &'a str, now: i64) -> StoreFuture<'a, Option<Handshake>> {
        Box::pin(async move {
            Ok(self
                .data()
                .handshakes
                .remove(id)
                .filter(|h| now < h.expires_at))
        })
    }

    fn handshakes_held(&self, now: i64) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let held = self
                .data()
                .handshakes
                .values()
                .filter(|h| now < h.expires_at)
                .count();
            Ok(u64::try_from(held).unwrap_or(u64::MAX))
        })
    }

    fn count_send<'a>(
        &'a self,
        key: &'a str,
        now_ms: i64,
        window_ms: i64,
        max: usize,
        capacity: usize,
    ) -> StoreFuture<'a, Option<i64>> {
        Box::pin(async move {
            let mut data = self.data();
            if !data.sends.contains_key(key) && data.sends.len() >= capacity {
                data.sends
                    .retain(|_, times| times.back().is_some_and(|t| now_ms - t < window_ms));
                while data.sends.len() >= capacity.max(1) {
                    let stalest = data
                        .sends
                        .iter()
                        .min_by_key(|(_, times)| times.back().copied().unwrap_or(i64::MIN))
                        .map(|(key, _)| key.clone());
                    match stalest {
                        Some(key) => data.sends.remove(&key),
                        None => break,
                    };
                }
            }
            let times = data.sends.entry(key.to_owned()).or_default();
            while times.front().is_some_and(|t| now_ms - t >= window_ms) {
                times.pop_front();
            }
            if let Some(first) = times.front()
                && times.len() >= max
            {
                return Ok(Some(window_ms - (now_ms - first)));
            }
            times.push_back(now_ms);
            Ok(None)
        })
    }

    fn signing_keys<'a>(&'a self) -> StoreFuture<'a, Vec<StoredKey>> {
        Box::pin(async move { Ok(self.data().keys.clone()) })
    }

    fn add_signing_key<'a>(&'a self, key: StoredKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut data = self.data();
            if !data.keys.iter().any(|k| k.kid == key.kid) {
                data.keys.push(key);
            }
            Ok(())
        })
    }

    fn first_signing_key<'a>(&'a self, key: StoredKey) -> StoreFuture<'a, Vec<StoredKey>> {
        Box::pin(async move {
            let mut data = self.data();
            if data.keys.is_empty() {
                data.keys.push(key);
            }
            Ok(data.keys.clone())
        })
    }

    fn replace_signing_key<'a>(&'a self, key: StoredKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut data = self.data();
            if let Some(kept) = data.keys.iter_mut().find(|k| k.kid == key.kid) {
                kept.pkcs8 = key.pkcs8;
            }
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
