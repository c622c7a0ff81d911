//! [`PassageLayer`]: configuration of the middleware.

use passage_core::{Passage, TokenSource, adapter::Admission};
use tower_layer::Layer;

use crate::{DefaultRejection, PassageService};

/// Authenticates requests with Passage; see the [crate docs](crate).
///
/// ```
/// use passage_core::{Passage, TokenSource};
/// use passage_tower::PassageLayer;
///
/// # fn run() -> Result<(), passage_core::ConfigError> {
/// let passage = Passage::from_env()?;
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
    pub(crate) admission: Admission,
    pub(crate) rejection: R,
}

impl PassageLayer {
    /// A layer that requires a valid token, looking where `passage` is configured to.
    pub fn new(passage: Passage) -> Self {
        let admission = Admission::required(passage.auth().token_source());
        Self {
            passage,
            admission,
            rejection: DefaultRejection,
        }
    }
}

impl<R> PassageLayer<R> {
    /// Lets requests without any token (where the layer looks) through, as anonymous: the
    /// request carries [`Anonymous`](passage_core::adapter::Anonymous) instead of claims, and
    /// `Option<PassageUser>` extractors see `None`.
    pub fn optional(mut self) -> Self {
        self.admission = Admission::optional(self.admission.source());
        self
    }

    /// Requires a valid token (the default).
    pub fn required(mut self) -> Self {
        self.admission = Admission::required(self.admission.source());
        self
    }

    /// Where to look for the token (default: the client's setting, header then cookie). The
    /// layer's choice is final for the request: extractors behind it never look elsewhere.
    pub fn token_source(mut self, source: TokenSource) -> Self {
        self.admission = if self.admission.is_optional() {
            Admission::optional(source)
        } else {
            Admission::required(source)
        };
        self
    }

    /// Answers refusals with your own responses.
    pub fn on_rejection<R2>(self, rejection: R2) -> PassageLayer<R2> {
        PassageLayer {
            passage: self.passage,
            admission: self.admission,
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
