//! What the layer answers when a request is refused.

use http::{Response, header};
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

/// The standard answer's status and headers with an empty body (`B::default()`), for response
/// bodies that cannot be made from a string, such as tonic's `tonic::body::Body`:
/// `PassageLayer::new(passage).on_rejection(EmptyBodyRejection)`.
///
/// A gRPC refusal is the same as [`DefaultRejection`]'s (its body is empty anyway; the status is
/// in `grpc-status`); a plain HTTP refusal keeps its status, `WWW-Authenticate` and
/// `Retry-After` but not the JSON `code` (and so no `Content-Type`).
///
/// ```
/// use http::Response;
/// use passage_core::AuthError;
/// use passage_tower::{EmptyBodyRejection, OnRejection};
///
/// #[derive(Default)]
/// struct Opaque; // a body type with no `From<&str>`
///
/// let response: Response<Opaque> = EmptyBodyRejection.reject(&AuthError::MissingToken, true);
/// assert_eq!(response.headers()["grpc-status"], "16");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyBodyRejection;

impl<B: Default> OnRejection<B> for EmptyBodyRejection {
    fn reject(&self, error: &AuthError, grpc: bool) -> Response<B> {
        let mut response = rejection_response::<&'static str>(error, grpc).map(|_| B::default());
        if !grpc {
            response.headers_mut().remove(header::CONTENT_TYPE);
        }
        response
    }
}
