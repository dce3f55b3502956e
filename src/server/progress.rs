//! Long model work with `$/progress` and a cancel button: the user sees it run and can
//! stop it, which stops decoding on the model thread.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::Notify;
use tower_lsp_server::ls_types::{NumberOrString, ProgressToken};

use super::Server;

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

impl Server {
    /// Runs `work` under a progress bar titled `title`. `work` gets a counter to bump as it
    /// goes (characters generated); the bar shows it. Cancelling the bar drops `work`,
    /// which cancels its engine request.
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
        let counter = Arc::new(AtomicUsize::new(0));
        let supported = *self
            .state
            .progress_supported
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let bar = if supported
            && self
                .client
                .create_work_done_progress(token.clone())
                .await
                .is_ok()
        {
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
                    if let Some(b) = &bar {
                        let n = counter.load(Ordering::Relaxed);
                        if n > 0 {
                            b.report_with_message(format!("writing… {n} characters"), None).await;
                        }
                    }
                }
            }
        };
        self.state.cancels.0.remove(&key);
        if let Some(b) = bar {
            b.finish().await;
        }
        result
    }
}
