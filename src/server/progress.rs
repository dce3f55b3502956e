//! Long model work with `$/progress` and a cancel button: the user sees it run and can
//! stop it, which stops decoding on the model thread.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::Notify;
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::{
    NumberOrString, ProgressParams, ProgressParamsValue, ProgressToken, WorkDoneProgress,
    WorkDoneProgressEnd, notification,
};

use super::{Server, State};

/// Cancel switches of the progress bars now shown, by token.
#[derive(Debug, Default)]
pub struct Cancels(DashMap<String, Arc<Notify>>);

impl Cancels {
    pub fn cancel(&self, token: &ProgressToken) {
        let key = match token {
            NumberOrString::String(s) => s.clone(),
            NumberOrString::Number(n) => n.to_string(),
        };
        if let Some(n) = self.0.get(&key) {
            n.notify_one();
        }
    }
}

/// Why long work ended without a result.
#[derive(Debug)]
pub enum Interrupted {
    /// The user pressed cancel.
    Cancelled,
}

/// A progress bar begun for long work, ended however the work ends: [`Bar::finish`] on
/// the way out, or, when the request's future is dropped (`$/cancelRequest`, a
/// superseded request, an error path), `Drop`, which cannot await and so spawns the `end`
/// notification on the runtime. Also takes the bar's cancel switch out of [`Cancels`].
struct Bar {
    state: Arc<State>,
    key: String,
    /// Set once the client accepted the token: an `end` is owed from then on (sending it
    /// for a `begin` that was interrupted before it went out does no harm; a bar left open
    /// spins in the editor for good).
    client: Option<(Client, ProgressToken)>,
}

impl Bar {
    fn end_params(token: ProgressToken) -> ProgressParams {
        ProgressParams {
            token,
            value: ProgressParamsValue::WorkDone(WorkDoneProgress::End(WorkDoneProgressEnd {
                message: None,
            })),
        }
    }

    /// Ends the bar now, in order with what the caller sends next. Dropped while it
    /// sends, `Drop` sends the `end` again (a second `end` for a token is ignored).
    async fn finish(mut self) {
        if let Some((client, token)) = self.client.clone() {
            client
                .send_notification::<notification::Progress>(Self::end_params(token))
                .await;
            self.client = None;
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.state.cancels.0.remove(&self.key);
        let Some((client, token)) = self.client.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    client
                        .send_notification::<notification::Progress>(Bar::end_params(token))
                        .await;
                });
            }
            Err(_) => tracing::warn!("progress bar left open: no runtime to end it on"),
        }
    }
}

impl Server {
    /// Runs `work` under a progress bar titled `title`. `work` gets a counter to bump as it
    /// goes (characters generated); the bar shows it. Cancelling the bar drops `work`,
    /// which cancels its engine request. Every bar begun is ended, also when this future
    /// is dropped before it completes.
    pub(super) async fn with_progress<T, F, Fut>(
        &self,
        title: &str,
        work: F,
    ) -> Result<T, Interrupted>
    where
        F: FnOnce(Arc<AtomicUsize>) -> Fut,
        Fut: Future<Output = T>,
    {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let key = format!("quill/work/{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let token = ProgressToken::String(key.clone());
        let cancel = Arc::new(Notify::new());
        self.state.cancels.0.insert(key.clone(), cancel.clone());
        let mut bar = Bar {
            state: self.state.clone(),
            key,
            client: None,
        };
        let counter = Arc::new(AtomicUsize::new(0));
        let supported = self.state.caps().progress;
        let shown = if supported
            && self
                .client
                .create_work_done_progress(token.clone())
                .await
                .is_ok()
        {
            bar.client = Some((self.client.clone(), token.clone()));
            Some(
                self.client
                    .progress(token, title.to_string())
                    .with_cancel_button()
                    .with_message("thinking…")
                    .begin()
                    .await,
            )
        } else {
            None
        };
        let fut = work(counter.clone());
        tokio::pin!(fut);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let result = loop {
            tokio::select! {
                out = &mut fut => break Ok(out),
                _ = cancel.notified() => break Err(Interrupted::Cancelled),
                _ = tick.tick() => {
                    if let Some(b) = &shown {
                        let n = counter.load(Ordering::Relaxed);
                        if n > 0 {
                            b.report_with_message(format!("writing… {n} characters"), None).await;
                        }
                    }
                }
            }
        };
        // The `end` goes through the guard (`OngoingProgress::finish` would send it too).
        bar.finish().await;
        result
    }
}
