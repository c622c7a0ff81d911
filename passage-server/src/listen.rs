//! How a listener serves its connections, so that no caller can hold the server: at most
//! [`Limits::connections`] connections at once per listener (each listener its own share of the
//! process's open files, so a flood of one never starves the other), a request's headers must
//! arrive within [`Limits::headers`], a connection that sends and receives nothing for
//! [`Limits::idle`] is closed, and a request (its body included) must be answered within
//! [`Limits::request`] (else 408).

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{
    Router,
    http::StatusCode,
    response::{IntoResponse as _, Response},
};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    task::JoinHandle,
    time::{Instant, Sleep},
};

/// What one listener allows a connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connections held at once; more wait in the kernel's backlog.
    pub(crate) connections: usize,
    /// Time to send a request's headers.
    pub(crate) headers: Duration,
    /// Time a connection may stay silent (no byte either way), idle keep-alive included.
    pub(crate) idle: Duration,
    /// Time to read a request's body and answer it.
    pub(crate) request: Duration,
}

/// The limits as configured ([`ServerBuilder`](crate::ServerBuilder)): the same for both
/// listeners, but for the connections, which default to a share of the open-file limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) max: Option<usize>,
    pub(crate) headers: Duration,
    pub(crate) idle: Duration,
    pub(crate) request: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max: None,
            headers: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            request: Duration::from_secs(30),
        }
    }
}

impl Settings {
    /// The limits of a listener that gets `share` of the connections this process can hold
    /// (unless a number was given).
    pub(crate) fn limits(&self, share: f64) -> Limits {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let share = ((open_files_limit().saturating_sub(256)) as f64 * share) as usize;
        Limits {
            connections: self.max.unwrap_or(share.max(32)),
            headers: self.headers,
            idle: self.idle,
            request: self.request,
        }
    }
}

/// The process's soft limit on open files (`/proc/self/limits`), or 1024 when unknown.
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3))
                .and_then(|soft| soft.parse().ok())
        })
        .unwrap_or(1024)
}

/// Serves `router` on `listener` within `limits` until `stop` turns true, then finishes the
/// requests in flight.
pub(crate) fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    what: &'static str,
) -> JoinHandle<()> {
    let router = router
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request,
        ))
        .layer(axum::middleware::map_response(timed_out));
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(limits.connections));
        let graceful = GracefulShutdown::new();
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.headers);
        let mut warned = false;
        loop {
            let permit = tokio::select! {
                permit = Arc::clone(&permits).acquire_owned() => permit,
                () = stopped(&mut stop) => break,
            };
            let Ok(permit) = permit else { break };
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of files, or a connection reset before it was accepted: wait a
                        // moment rather than spin.
                        tracing::error!(error = %err, "passage-server: {what}: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = stopped(&mut stop) => break,
            };
            if permits.available_permits() == 0 && !warned {
                tracing::warn!(
                    limit = limits.connections,
                    "passage-server: {what} holds as many connections as it may; more wait (limit per client in the reverse proxy)"
                );
            }
            warned = permits.available_permits() == 0;
            let _ = stream.set_nodelay(true);
            let io = TokioIo::new(Guarded::new(stream, permit, limits.idle));
            let connection = graceful
                .watch(builder.serve_connection(io, TowerToHyperService::new(router.clone())));
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, "passage-server: a connection ended with an error");
                }
            });
        }
        drop(listener);
        graceful.shutdown().await;
    })
}

/// A request that ran out of time is refused as JSON `{code, error}`, like every refusal.
async fn timed_out(response: Response) -> Response {
    if response.status() != StatusCode::REQUEST_TIMEOUT {
        return response;
    }
    (
        StatusCode::REQUEST_TIMEOUT,
        axum::Json(serde_json::json!({
            "code": "request_timeout",
            "error": "the request took too long to arrive or to answer",
        })),
    )
        .into_response()
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// A connection that holds its listener's permit until it closes, and fails once it has been
/// silent for `idle`.
struct Guarded {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Guarded {
    fn new(stream: TcpStream, permit: OwnedSemaphorePermit, idle: Duration) -> Self {
        Self {
            stream,
            _permit: permit,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    /// Something moved: the connection may stay silent for `idle` again.
    fn moved(&mut self) {
        let idle = self.idle;
        self.deadline.as_mut().reset(Instant::now() + idle);
    }

    /// Pending, unless the connection has been silent too long.
    fn silent(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        ready!(self.deadline.as_mut().poll(cx));
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            "the connection was silent too long",
        ))
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(result)
            }
            Poll::Pending => self.silent(cx).map(Err),
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, buf) {
            Poll::Ready(Ok(written)) => {
                if written > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(written))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            // A client that reads nothing holds the connection no longer than one that sends
            // nothing.
            Poll::Pending => self.silent(cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
