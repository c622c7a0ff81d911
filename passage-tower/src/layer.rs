//! [`PassageLayer`]: configuration of the middleware.

use passage_core::{Passage, TokenSource};
use tower_layer::Layer;

use crate::{DefaultRejection, PassageService};

/// Authenticates requests with Passage; see the [crate docs](crate).
///
/// ```
/// use passage_core::{Passage, TokenSource};
/// use passage_tower::PassageLayer;
///
/// # fn run() -> Result<(), passage_core::ConfigError> {
/// let passage = Passage::builder("my-app").build()?;
/// // Every request must carry a valid token:
/// let required = PassageLayer::new(passage.clone());
/// // Anonymous requests pass through (a present but bad token is still refused):
/// let optional = PassageLayer::new(passage).optional().token_source(TokenSource::Header);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct PassageLayer<R = DefaultRejection> {
    pub(crate) passage: Passage,
    pub(crate) optional: bool,
    pub(crate) source: TokenSource,
    pub(crate) rejection: R,
}

impl PassageLayer {
    /// A layer that requires a valid token, looking where `passage` is configured to.
    pub fn new(passage: Passage) -> Self {
        let source = passage.auth().token_source();
        Self {
            passage,
            optional: false,
            source,
            rejection: DefaultRejection,
        }
    }
}

impl<R> PassageLayer<R> {
    /// Lets requests without any token through, unauthenticated (no extension inserted).
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Requires a valid token (the default).
    pub fn required(mut self) -> Self {
        self.optional = false;
        self
    }

    /// Where to look for the token (default: the client's setting, header then cookie).
    pub fn token_source(mut self, source: TokenSource) -> Self {
        self.source = source;
        self
    }

    /// Answers refusals with your own responses.
    pub fn on_rejection<R2>(self, rejection: R2) -> PassageLayer<R2> {
        PassageLayer {
            passage: self.passage,
            optional: self.optional,
            source: self.source,
            rejection,
        }
    }
}

impl<S, R: Clone> Layer<S> for PassageLayer<R> {
    type Service = PassageService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        PassageService {
            inner,
            layer: self.clone(),
        }
    }
}
