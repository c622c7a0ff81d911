//! The example gRPC service: `passage.example.WhoAmI/WhoAmI` answers the caller's user id,
//! behind [`PassageLayer`], for `main.rs` and the end-to-end tests.
//!
//! | call | metadata | answer |
//! |---|---|---|
//! | `WhoAmI` | `authorization: Bearer <token>` | `WhoAmIReply { user_id }` |
//! | `WhoAmI` | none, or a bad token | status `UNAUTHENTICATED` (16) |
//! | `WhoAmI` | a token while the signing keys cannot be fetched | status `UNAVAILABLE` (14) |
//!
//! The refusals come from the layer (decided in `passage-core`), before the handler runs.

use passage_core::{Passage, PassageClaims};
use passage_tower::{EmptyBodyRejection, PassageLayer};
use tonic::{Request, Response, Status, transport::Server};

/// The request of `WhoAmI`: empty, the caller is known by their token.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WhoAmIRequest {}

/// The answer of `WhoAmI`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WhoAmIReply {
    /// The Passage user id (the token's `sub`).
    #[prost(string, tag = "1")]
    pub user_id: String,
}

/// The code `build.rs` generates: the server ([`who_am_i_server::WhoAmI`], the trait a service
/// implements, and [`who_am_i_server::WhoAmIServer`]) and the client
/// ([`who_am_i_client::WhoAmIClient`]).
#[allow(missing_docs, unreachable_pub, reason = "generated code")]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/passage.example.WhoAmI.rs"));
}

pub use generated::{who_am_i_client, who_am_i_server};

/// The `WhoAmI` service: reads the claims the layer put into the request's extensions.
#[derive(Debug, Clone, Copy, Default)]
pub struct WhoAmIService;

#[tonic::async_trait]
impl who_am_i_server::WhoAmI for WhoAmIService {
    async fn who_am_i(
        &self,
        request: Request<WhoAmIRequest>,
    ) -> Result<Response<WhoAmIReply>, Status> {
        // The layer runs in required mode, so a request without claims never gets here; answer
        // as the layer would if the service were ever mounted without it.
        let claims = request
            .extensions()
            .get::<PassageClaims>()
            .ok_or_else(|| Status::unauthenticated("missing_token"))?;
        Ok(Response::new(WhoAmIReply {
            user_id: claims.user_id().to_owned(),
        }))
    }
}

/// Serves the `WhoAmI` service behind [`PassageLayer`] on `listener` until `shutdown` resolves.
///
/// # Errors
/// When the server fails (accepting connections, HTTP/2).
pub async fn serve(
    listener: tokio::net::TcpListener,
    passage: Passage,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    Server::builder()
        // tonic's response body is not made from a string: refusals have an empty body (a gRPC
        // refusal's is empty anyway) with `grpc-status` 16 or 14.
        .layer(PassageLayer::new(passage).on_rejection(EmptyBodyRejection))
        .add_service(who_am_i_server::WhoAmIServer::new(WhoAmIService))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown,
        )
        .await
}
