//! Every handler isolated: a panic inside one becomes an `InternalError` answer (or, for a
//! notification, a log line) instead of unwinding through tower-lsp-server's serve loop and
//! ending the process. The server keeps serving.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use tower_lsp_server::jsonrpc::{Error, Request, Response};
use tower_service::Service;

/// A service whose handlers' panics are answered, not propagated.
pub struct Isolated<S>(pub S);

type Answer<E> = Pin<Box<dyn Future<Output = Result<Option<Response>, E>> + Send>>;

impl<S> Service<Request> for Isolated<S>
where
    S: Service<Request, Response = Option<Response>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Option<Response>;
    type Error = S::Error;
    type Future = Answer<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let id = req.id().cloned();
        let method = req.method().to_string();
        let answer = move |panic: Box<dyn Any + Send>| {
            let why = panic_message(&*panic);
            tracing::error!("{method} panicked: {why}");
            Ok(id.map(|id| {
                let mut e = Error::internal_error();
                e.message = format!("quill: {method} failed: {why}").into();
                Response::from_error(id, e)
            }))
        };
        match catch_unwind(AssertUnwindSafe(|| self.0.call(req))) {
            Ok(fut) => Box::pin(async move {
                match (CatchUnwind(Box::pin(fut))).await {
                    Ok(r) => r,
                    Err(panic) => answer(panic),
                }
            }),
            Err(panic) => Box::pin(std::future::ready(answer(panic))),
        }
    }
}

/// A future that turns a panic while polling into an `Err`.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// The message a panic carried.
pub fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::jsonrpc::Id;

    struct Boom(bool);

    impl Service<Request> for Boom {
        type Response = Option<Response>;
        type Error = std::convert::Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Option<Response>, Self::Error>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request) -> Self::Future {
            if self.0 {
                panic!("at once");
            }
            Box::pin(async {
                tokio::task::yield_now().await;
                panic!("while answering")
            })
        }
    }

    #[tokio::test]
    async fn a_panic_becomes_an_internal_error_answer() {
        for at_once in [true, false] {
            let mut s = Isolated(Boom(at_once));
            let req = Request::build("quill/x").id(7).finish();
            let r = s.call(req).await.unwrap().unwrap();
            assert_eq!(r.id(), &Id::Number(7));
            let e = r.error().unwrap();
            assert!(e.message.contains("quill/x failed"), "{}", e.message);
            let note = Request::build("quill/y").finish();
            assert!(s.call(note).await.unwrap().is_none());
        }
    }
}
