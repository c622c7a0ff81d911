//! What the layer answers when a request is refused.

use http::Response;
use passage_core::{AuthError, adapter::rejection_response};

/// Turns a refused request into a response. Implement it for your own body shape; the default
/// is [`DefaultRejection`].
///
/// ```
/// use http::{Response, StatusCode};
/// use passage_core::AuthError;
/// use passage_tower::OnRejection;
///
/// #[derive(Clone)]
/// struct Plain;
///
/// impl OnRejection<String> for Plain {
///     fn reject(&self, error: &AuthError, _grpc: bool) -> Response<String> {
///         let mut response = Response::new(format!("denied: {}", error.code()));
///         *response.status_mut() = error.status();
///         response
///     }
/// }
/// ```
pub trait OnRejection<B>: Clone {
    /// The response for `error`; `grpc` is true for `application/grpc` requests.
    fn reject(&self, error: &AuthError, grpc: bool) -> Response<B>;
}

/// The standard answer, built by `passage-core` (the same in every adapter).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRejection;

impl<B: From<&'static str>> OnRejection<B> for DefaultRejection {
    fn reject(&self, error: &AuthError, grpc: bool) -> Response<B> {
        rejection_response(error, grpc)
    }
}
