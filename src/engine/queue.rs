//! The engine handle and its request queue.
//!
//! Rules, all enforced under one short-held lock (never across an `.await`):
//! - a request with a key supersedes every pending or running request with the same key;
//! - interactive requests run before background ones, in arrival order; since each key has
//!   at most one pending request, documents take turns fairly;
//! - an interactive request preempts background work (pending is dropped, running is
//!   cancelled between tokens);
//! - a request whose caller went away (its [`Ticket`] dropped) is cancelled the same way.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::{oneshot, watch};

use super::{
    Backend, BatchSource, CancelReason, CancelToken, EngineError, ModelInfo, Output, Priority,
    Request, Waiting, ms_since,
};

/// Where the engine is in its life.
#[derive(Debug, Clone)]
pub enum EngineState {
    /// Loading the model; the fraction done, 0 to 1.
    Loading(f32),
    Ready(Arc<ModelInfo>),
    Failed(String),
    Stopped,
}

struct Queued {
    work: Payload,
    cancel: CancelToken,
    submitted: Instant,
}

enum Payload {
    Single {
        req: Request,
        reply: oneshot::Sender<Result<Output, EngineError>>,
    },
    /// Many requests decoded together (`quill batch`).
    Batch {
        source: Box<dyn BatchSource>,
        parallel: usize,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
}

impl Queued {
    fn key(&self) -> Option<&str> {
        match &self.work {
            Payload::Single { req, .. } => req.key.as_deref(),
            Payload::Batch { .. } => None,
        }
    }

    fn priority(&self) -> Priority {
        match &self.work {
            Payload::Single { req, .. } => effective(req.priority, req.waiting.as_ref()),
            Payload::Batch { .. } => Priority::Interactive,
        }
    }

    fn waiting(&self) -> Option<Waiting> {
        match &self.work {
            Payload::Single { req, .. } => req.waiting.clone(),
            Payload::Batch { .. } => None,
        }
    }

    /// Answers the job with an error without running it.
    fn refuse(self, err: EngineError) {
        match self.work {
            Payload::Single { reply, .. } => {
                let _ = reply.send(Err(err));
            }
            Payload::Batch { reply, .. } => {
                let _ = reply.send(Err(err));
            }
        }
    }
}

struct Running {
    key: Option<String>,
    priority: Priority,
    waiting: Option<Waiting>,
    cancel: CancelToken,
}

impl Running {
    fn priority(&self) -> Priority {
        effective(self.priority, self.waiting.as_ref())
    }
}

/// A request's priority: background while nobody waits on a request that counts its
/// callers.
fn effective(priority: Priority, waiting: Option<&Waiting>) -> Priority {
    if waiting.is_some_and(Waiting::is_idle) {
        Priority::Background
    } else {
        priority
    }
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Queued>,
    running: Option<Running>,
    shutdown: bool,
    /// Set when the model failed to load: every request gets this error.
    failed: Option<String>,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic on the engine thread must not take every caller down with it.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The handle to the engine thread. Cheap to share behind an `Arc`; dropping the last
/// handle stops the thread.
pub struct Engine {
    shared: Arc<Shared>,
    state: watch::Receiver<EngineState>,
    thread: Option<JoinHandle<()>>,
}

/// A submitted request. Await it with [`Ticket::wait`] (or [`Ticket::wait_blocking`]);
/// dropping it cancels the request on the engine thread.
pub struct Ticket {
    rx: Option<oneshot::Receiver<Result<Output, EngineError>>>,
    cancel: CancelToken,
}

impl Ticket {
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    pub async fn wait(mut self) -> Result<Output, EngineError> {
        let rx = self.rx.take().expect("ticket waited once");
        let out = rx.await.unwrap_or(Err(EngineError::Stopped));
        // Completed: nothing left to cancel on drop.
        self.cancel = CancelToken::new();
        out
    }

    pub fn wait_blocking(mut self) -> Result<Output, EngineError> {
        let rx = self.rx.take().expect("ticket waited once");
        let out = rx.blocking_recv().unwrap_or(Err(EngineError::Stopped));
        self.cancel = CancelToken::new();
        out
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.cancel.cancel(CancelReason::Caller);
    }
}

/// Given to the engine thread's body: reports load progress, then serves requests.
pub struct Starter {
    shared: Arc<Shared>,
    state: Arc<watch::Sender<EngineState>>,
}

impl Starter {
    /// A progress reporter that can be moved into llama.cpp's load callback.
    pub fn progress_fn(&self) -> impl FnMut(f32) -> bool + Send + 'static {
        let state = self.state.clone();
        let mut last = -1.0f32;
        move |p| {
            // llama.cpp calls this for every tensor; publish whole percents only.
            if p - last >= 0.01 || p >= 1.0 {
                last = p;
                state.send_replace(EngineState::Loading(p));
            }
            true
        }
    }

    /// The model could not be loaded: every pending and future request gets `message`.
    pub fn fail(self, message: String) {
        tracing::error!("model load failed: {message}");
        let jobs: Vec<Queued> = {
            let mut q = self.shared.lock();
            q.failed = Some(message.clone());
            q.jobs.drain(..).collect()
        };
        for job in jobs {
            job.refuse(EngineError::LoadFailed(message.clone()));
        }
        self.state.send_replace(EngineState::Failed(message));
    }

    /// Serves requests with `backend` until the engine is dropped.
    pub fn serve(self, info: ModelInfo, backend: &mut dyn Backend) {
        self.state.send_replace(EngineState::Ready(Arc::new(info)));
        loop {
            let job = {
                let mut q = self.shared.lock();
                loop {
                    if q.shutdown {
                        for job in q.jobs.drain(..) {
                            job.refuse(EngineError::Cancelled(CancelReason::Shutdown));
                        }
                        drop(q);
                        self.state.send_replace(EngineState::Stopped);
                        return;
                    }
                    if let Some(i) = next_job(&q.jobs) {
                        let job = q.jobs.remove(i).expect("index from next_job");
                        q.running = Some(Running {
                            key: job.key().map(str::to_string),
                            priority: job.priority(),
                            waiting: job.waiting(),
                            cancel: job.cancel.clone(),
                        });
                        break job;
                    }
                    q = self.shared.wake.wait(q).unwrap_or_else(|e| e.into_inner());
                }
            };
            let queue_ms = ms_since(job.submitted);
            let started = Instant::now();
            match job.work {
                Payload::Single { mut req, reply } => {
                    let result = job
                        .cancel
                        .check()
                        .and_then(|()| backend.generate(&mut req, &job.cancel));
                    tracing::debug!(
                        ms = ms_since(started),
                        key = ?req.key,
                        ok = result.is_ok(),
                        "request done"
                    );
                    self.shared.lock().running = None;
                    let _ = reply.send(result.map(|mut out| {
                        out.timings.queue_ms = queue_ms;
                        out
                    }));
                }
                Payload::Batch {
                    mut source,
                    parallel,
                    reply,
                } => {
                    let result = job
                        .cancel
                        .check()
                        .and_then(|()| backend.run_batch(source.as_mut(), parallel, &job.cancel));
                    tracing::debug!(ms = ms_since(started), "batch done");
                    self.shared.lock().running = None;
                    let _ = reply.send(result);
                }
            }
        }
    }
}

/// The index of the job to run next: the oldest interactive one, else the oldest.
fn next_job(jobs: &VecDeque<Queued>) -> Option<usize> {
    jobs.iter()
        .position(|j| j.priority() == Priority::Interactive)
        .or(if jobs.is_empty() { None } else { Some(0) })
}

impl Engine {
    /// Starts the engine thread. `body` loads the model, reporting progress through the
    /// [`Starter`], then calls [`Starter::serve`] (or [`Starter::fail`]).
    pub fn spawn(body: impl FnOnce(Starter) + Send + 'static) -> Engine {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
        });
        let (tx, rx) = watch::channel(EngineState::Loading(0.0));
        let state = Arc::new(tx);
        let starter = Starter {
            shared: shared.clone(),
            state: state.clone(),
        };
        let guard = Starter {
            shared: shared.clone(),
            state,
        };
        let thread = std::thread::Builder::new()
            .name("quill-engine".into())
            .spawn(move || {
                let run = std::panic::AssertUnwindSafe(|| body(starter));
                if let Err(panic) = std::panic::catch_unwind(run) {
                    let what = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown panic".into());
                    // Callers must not wait forever on a dead thread.
                    guard.fail(format!("the engine thread panicked: {what}"));
                }
            })
            .expect("spawn the engine thread");
        Engine {
            shared,
            state: rx,
            thread: Some(thread),
        }
    }

    /// The current state (loading, ready, failed).
    pub fn state(&self) -> EngineState {
        self.state.borrow().clone()
    }

    /// A receiver that sees every state change, for progress reporting.
    pub fn watch(&self) -> watch::Receiver<EngineState> {
        self.state.clone()
    }

    /// The model's description once loaded.
    pub fn info(&self) -> Option<Arc<ModelInfo>> {
        match &*self.state.borrow() {
            EngineState::Ready(info) => Some(info.clone()),
            _ => None,
        }
    }

    /// Waits until the model has loaded (or failed to).
    pub async fn ready(&self) -> Result<Arc<ModelInfo>, EngineError> {
        let mut rx = self.state.clone();
        loop {
            match &*rx.borrow_and_update() {
                EngineState::Ready(info) => return Ok(info.clone()),
                EngineState::Failed(m) => return Err(EngineError::LoadFailed(m.clone())),
                EngineState::Stopped => return Err(EngineError::Stopped),
                EngineState::Loading(_) => {}
            }
            if rx.changed().await.is_err() {
                return Err(EngineError::Stopped);
            }
        }
    }

    /// Blocking form of [`Engine::ready`], for the CLI.
    pub fn ready_blocking(&self) -> Result<Arc<ModelInfo>, EngineError> {
        let mut rx = self.state.clone();
        loop {
            match &*rx.borrow_and_update() {
                EngineState::Ready(info) => return Ok(info.clone()),
                EngineState::Failed(m) => return Err(EngineError::LoadFailed(m.clone())),
                EngineState::Stopped => return Err(EngineError::Stopped),
                EngineState::Loading(_) => {}
            }
            // watch has no blocking wait; the CLI waits here only while a model loads.
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Queues a request and returns at once.
    pub fn submit(&self, req: Request) -> Ticket {
        let (tx, rx) = oneshot::channel();
        let cancel = CancelToken::new();
        let ticket = Ticket {
            rx: Some(rx),
            cancel: cancel.clone(),
        };
        let mut q = self.shared.lock();
        if let Some(msg) = &q.failed {
            let _ = tx.send(Err(EngineError::LoadFailed(msg.clone())));
            return ticket;
        }
        if q.shutdown {
            let _ = tx.send(Err(EngineError::Stopped));
            return ticket;
        }
        // Drop jobs whose callers already went away, so they cannot pile up.
        q.jobs.retain(|j| !j.cancel.is_cancelled());
        if req.priority == Priority::Background && interactive_pending(&q, req.key.as_deref()) {
            // Warm-up behind real work for the same document is pointless.
            let _ = tx.send(Err(EngineError::Cancelled(CancelReason::Preempted)));
            return ticket;
        }
        if let Some(key) = &req.key {
            supersede(&mut q, key);
        }
        if req.priority == Priority::Interactive {
            preempt_background(&mut q);
        }
        q.jobs.push_back(Queued {
            work: Payload::Single { req, reply: tx },
            cancel,
            submitted: Instant::now(),
        });
        drop(q);
        self.shared.wake.notify_one();
        ticket
    }

    /// Runs a batch: requests from `source` decoded `parallel` at a time in one context.
    /// Blocks until the source is exhausted; results go to the source as they finish.
    pub fn run_batch_blocking(
        &self,
        source: Box<dyn BatchSource>,
        parallel: usize,
    ) -> Result<(), EngineError> {
        self.run_batch_cancellable(source, parallel, CancelToken::new())
    }

    /// [`Engine::run_batch_blocking`] that ends early, with `Err(Cancelled)`, once `cancel`
    /// is cancelled (checked between decode steps).
    pub fn run_batch_cancellable(
        &self,
        source: Box<dyn BatchSource>,
        parallel: usize,
        cancel: CancelToken,
    ) -> Result<(), EngineError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut q = self.shared.lock();
            if let Some(msg) = &q.failed {
                return Err(EngineError::LoadFailed(msg.clone()));
            }
            q.jobs.push_back(Queued {
                work: Payload::Batch {
                    source,
                    parallel,
                    reply: tx,
                },
                cancel,
                submitted: Instant::now(),
            });
        }
        self.shared.wake.notify_one();
        rx.blocking_recv().unwrap_or(Err(EngineError::Stopped))
    }

    /// Submits and waits.
    pub async fn generate(&self, req: Request) -> Result<Output, EngineError> {
        self.submit(req).wait().await
    }

    /// Submits and blocks until done, for the CLI.
    pub fn generate_blocking(&self, req: Request) -> Result<Output, EngineError> {
        self.submit(req).wait_blocking()
    }
}

/// True when interactive work is queued or running (for `key`, when given).
fn interactive_pending(q: &Queue, key: Option<&str>) -> bool {
    let same = |k: &Option<String>| key.is_none() || k.as_deref() == key;
    q.jobs
        .iter()
        .any(|j| j.priority() == Priority::Interactive && same(&j.key().map(str::to_string)))
        || q.running
            .as_ref()
            .is_some_and(|r| r.priority() == Priority::Interactive && same(&r.key))
}

fn supersede(q: &mut Queue, key: &str) {
    let mut kept = VecDeque::with_capacity(q.jobs.len());
    for job in q.jobs.drain(..) {
        if job.key() == Some(key) {
            job.cancel.cancel(CancelReason::Superseded);
            job.refuse(EngineError::Cancelled(CancelReason::Superseded));
        } else {
            kept.push_back(job);
        }
    }
    q.jobs = kept;
    if let Some(r) = &q.running
        && r.key.as_deref() == Some(key)
    {
        r.cancel.cancel(CancelReason::Superseded);
    }
}

fn preempt_background(q: &mut Queue) {
    let mut kept = VecDeque::with_capacity(q.jobs.len());
    for job in q.jobs.drain(..) {
        if job.priority() == Priority::Background {
            job.cancel.cancel(CancelReason::Preempted);
            job.refuse(EngineError::Cancelled(CancelReason::Preempted));
        } else {
            kept.push_back(job);
        }
    }
    q.jobs = kept;
    if let Some(r) = &q.running
        && r.priority() == Priority::Background
    {
        r.cancel.cancel(CancelReason::Preempted);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        {
            let mut q = self.shared.lock();
            q.shutdown = true;
            if let Some(r) = &q.running {
                r.cancel.cancel(CancelReason::Shutdown);
            }
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            // The last owner can be a request the engine thread itself is dropping (a stop
            // rule that holds the server's state): joining itself would fail, and the
            // thread leaves its loop anyway once the request is gone.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests;
