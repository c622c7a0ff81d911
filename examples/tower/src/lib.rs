//! The example server: hyper 1 + `tower` + [`PassageLayer`], no web framework.
//! Routes and answers as in `example-axum`.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use passage_core::{AuthError, Passage, PassageClaims, adapter::rejection_response};
use passage_tower::PassageLayer;
use tower::{Service, ServiceBuilder, ServiceExt as _, service_fn, util::BoxCloneSyncService};

type Body = Full<Bytes>;

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The routes behind the layer; the layer (optional mode) has put claims in extensions when a
/// valid token came, and has already refused bad tokens.
async fn routes(
    passage: Passage,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let claims = request.extensions().get::<PassageClaims>().cloned();
    // The layer runs in optional mode, so required routes refuse anonymous requests here.
    let anonymous = || rejection_response(&AuthError::MissingToken, false);
    let response = match (request.method(), request.uri().path(), claims) {
        (&Method::GET, "/me", Some(claims)) => {
            json(StatusCode::OK, &example_support::user_id(Some(&claims)))
        }
        (&Method::GET, "/maybe", claims) => {
            json(StatusCode::OK, &example_support::user_id(claims.as_ref()))
        }
        (&Method::GET, "/profile", Some(claims)) => {
            let (status, body) = example_support::profile(&passage, claims.user_id()).await;
            json(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                &body,
            )
        }
        (&Method::GET, "/me" | "/profile", None) => anonymous(),
        _ => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({ "code": "not_found" }),
        ),
    };
    Ok(response)
}

/// The whole app as one tower service: `/healthz` in front of the layer, the rest behind it.
pub fn app(passage: Passage) -> BoxCloneSyncService<Request<Incoming>, Response<Body>, Infallible> {
    let protected = ServiceBuilder::new()
        .layer(PassageLayer::new(passage.clone()).optional())
        .service(service_fn(move |request| routes(passage.clone(), request)));
    BoxCloneSyncService::new(service_fn(move |request: Request<Incoming>| {
        let mut protected = protected.clone();
        async move {
            if request.uri().path() == "/healthz" {
                return Ok(json(StatusCode::OK, &example_support::health()));
            }
            protected.ready().await?.call(request).await
        }
    }))
}

/// Serves [`app`] on `listener` until `shutdown` resolves.
///
/// # Errors
/// When accepting connections fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    passage: Passage,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(passage);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
}
