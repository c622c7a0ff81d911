//! Revocations that reach every backend at once. The server refuses a revoked user's tokens on
//! its own API from the store; backends validating tokens themselves (passage-core) learn of a
//! revocation through the Management API calls they make — but not of one made elsewhere (an
//! admin's deactivation, a reused refresh token). With Redis configured (feature `redis`), the
//! server publishes each revocation as passage-redis does (same keys, same channel, same
//! namespace as the backends use), so every replica using passage-core with that Redis refuses
//! the same tokens at once.

use std::sync::Arc;

use passage_core::PassageBuilder;

use crate::{ServerError, state::Shared as Passage};

/// Where revocations are published: a Redis URL and the namespace the backends use.
#[derive(Debug, Clone)]
pub(crate) struct Publish {
    pub(crate) redis_url: String,
    pub(crate) namespace: String,
}

/// `verifier`'s builder, sharing revocations through Redis when configured.
pub(crate) fn shared(
    verifier: PassageBuilder,
    publish: Option<&Publish>,
) -> Result<PassageBuilder, ServerError> {
    let Some(publish) = publish else {
        return Ok(verifier);
    };
    #[cfg(feature = "redis")]
    {
        let redis = passage_redis::RedisRevocations::new(&publish.redis_url)
            .map_err(|err| ServerError::Config(format!("the Redis URL: {err}")))?
            .namespace(&publish.namespace);
        tracing::info!(
            namespace = %publish.namespace,
            "passage-server: session revocations are published through Redis"
        );
        Ok(verifier.revocations(redis))
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = verifier;
        Err(ServerError::Config(format!(
            "a Redis URL is set ({}), but this build has no Redis support (feature `redis`)",
            if publish.redis_url.is_empty() {
                "empty"
            } else {
                "given"
            }
        )))
    }
}

/// Tells `verifier` of every revocation the server makes (the Management API's, sign-outs
/// everywhere): it refuses those tokens too, and publishes them when it shares revocations.
pub(crate) fn publish(passage: &Arc<Passage>, verifier: &passage_core::Passage) {
    let verifier = verifier.clone();
    let _ = passage.on_revoke.set(Box::new(move |user_id: &str| {
        verifier.auth().revoke_sessions(user_id);
    }));
}
