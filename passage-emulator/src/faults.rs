//! Fault injection: make the JWKS or the Management API fail on purpose.

/// What the emulator does instead of answering normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer `503 Service Unavailable` (a JSON error body on the API).
    Unavailable,
    /// Answer this status with a Passage-shaped JSON error body (429 carries `Retry-After: 1`).
    Status(u16),
    /// Never answer (until the emulator shuts down).
    Hang,
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// Send headers, then drop the connection mid-body.
    Close,
    /// Handle the request (its effects happen), then drop the connection mid-body: the client
    /// never learns the outcome (a lost response).
    LoseResponse,
    /// Make the answer at once, then send it only after this long (a slow link: the answer
    /// reflects the moment the request arrived).
    Slow(std::time::Duration),
}

/// Which part of the emulator a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// `GET /v1/apps/{app_id}/.well-known/jwks.json`.
    Jwks,
    /// Every Management API route.
    Api,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    fault: Fault,
    remaining: Option<u32>,
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    jwks: Option<Slot>,
    api: Option<Slot>,
}

impl Faults {
    fn slot(&mut self, target: Target) -> &mut Option<Slot> {
        match target {
            Target::Jwks => &mut self.jwks,
            Target::Api => &mut self.api,
        }
    }

    pub(crate) fn set(&mut self, target: Target, fault: Option<Fault>, times: Option<u32>) {
        *self.slot(target) = fault.map(|fault| Slot {
            fault,
            remaining: times,
        });
    }

    /// The fault for the next request to `target`, counting down limited faults.
    pub(crate) fn take(&mut self, target: Target) -> Option<Fault> {
        let slot = self.slot(target);
        let current = (*slot)?;
        match current.remaining {
            Some(0) => {
                *slot = None;
                None
            }
            Some(n) => {
                *slot = (n > 1).then_some(Slot {
                    remaining: Some(n - 1),
                    ..current
                });
                Some(current.fault)
            }
            None => Some(current.fault),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_faults_count_down() {
        let mut faults = Faults::default();
        faults.set(Target::Api, Some(Fault::Unavailable), Some(2));
        assert_eq!(faults.take(Target::Api), Some(Fault::Unavailable));
        assert_eq!(faults.take(Target::Jwks), None);
        assert_eq!(faults.take(Target::Api), Some(Fault::Unavailable));
        assert_eq!(faults.take(Target::Api), None);
        faults.set(Target::Jwks, Some(Fault::Hang), None);
        assert_eq!(faults.take(Target::Jwks), Some(Fault::Hang));
        assert_eq!(faults.take(Target::Jwks), Some(Fault::Hang));
    }
}
