use std::time::Duration;

use super::*;
use crate::engine::fake::FakeBackend;
use crate::engine::{Generate, Piece, Waiting, Work};

/// An engine whose answers take `tokens` steps of 10 ms.
fn slow_engine(tokens: usize) -> Engine {
    let mut fake = FakeBackend::new(move |_| "abc".repeat(tokens));
    fake.token_delay = Duration::from_millis(10);
    fake.spawn()
}

fn request(key: &str, priority: Priority) -> Request {
    request_of(key, priority, Generate::new(1000))
}

fn request_of(key: &str, priority: Priority, g: Generate) -> Request {
    let mut r = Request::new(vec![Piece::Text(key.into())], Work::Generate(g));
    r.key = Some(key.into());
    r.priority = priority;
    r
}

/// Waits until the engine thread has taken a request and runs it.
fn started(engine: &Engine) {
    while engine.shared.lock().running.is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The server's state (and so the engine) can be owned last by a request's stop rule,
/// which the engine thread drops: it must not try to join itself (it panicked at every
/// shutdown of `quill serve` that ended while a request was queued).
#[test]
fn the_engine_thread_can_drop_the_last_handle() {
    struct Holder {
        engine: Option<Arc<Engine>>,
        dropped: std::sync::mpsc::Sender<()>,
    }
    impl Drop for Holder {
        fn drop(&mut self) {
            drop(self.engine.take());
            let _ = self.dropped.send(());
        }
    }
    let engine = Arc::new(slow_engine(100));
    let (dropped, engine_gone) = std::sync::mpsc::channel();
    let holder = Holder {
        engine: Some(engine.clone()),
        dropped,
    };
    let mut g = Generate::new(1000);
    g.stop = Some(Box::new(move |_| {
        let _ = &holder;
        false
    }));
    let req = request_of("a", Priority::Interactive, g);
    let ticket = engine.submit(req);
    started(&engine);
    drop(engine);
    drop(ticket);
    engine_gone
        .recv()
        .expect("the engine thread dropped its own engine without panicking");
}

#[test]
fn a_newer_request_with_the_same_key_supersedes() {
    let engine = slow_engine(100);
    let first = engine.submit(request("a", Priority::Interactive));
    started(&engine);
    let second = engine.submit(request("a", Priority::Interactive));
    assert!(matches!(
        first.wait_blocking(),
        Err(EngineError::Cancelled(CancelReason::Superseded))
    ));
    let short = request_of("b", Priority::Interactive, Generate::new(2));
    assert!(engine.generate_blocking(short).is_ok());
    drop(second);
}

#[test]
fn interactive_work_preempts_background_work() {
    let engine = slow_engine(100);
    let warm = engine.submit(request("a", Priority::Background));
    started(&engine);
    let real = request_of("b", Priority::Interactive, Generate::new(2));
    assert!(engine.generate_blocking(real).is_ok());
    assert!(matches!(
        warm.wait_blocking(),
        Err(EngineError::Cancelled(CancelReason::Preempted))
    ));
    // A warm-up behind interactive work for the same key is refused at once.
    let busy = engine.submit(request("c", Priority::Interactive));
    let late = engine.submit(request("c", Priority::Background));
    assert!(matches!(
        late.wait_blocking(),
        Err(EngineError::Cancelled(CancelReason::Preempted))
    ));
    drop(busy);
}

#[test]
fn a_request_nobody_waits_on_runs_as_background_work() {
    let engine = slow_engine(100);
    let waiting = Waiting::new();
    let guard = waiting.enter();
    let mut req = request("a", Priority::Interactive);
    req.waiting = Some(waiting.clone());
    let running = engine.submit(req);
    started(&engine);
    // While someone waits, another document's request queues behind it.
    let other = request_of("b", Priority::Interactive, Generate::new(2));
    let other = engine.submit(other);
    std::thread::sleep(Duration::from_millis(50));
    assert!(!running.cancel_token().is_cancelled());
    drop(other);
    // Nobody waits any more: the next interactive request preempts it.
    drop(guard);
    let next = request_of("c", Priority::Interactive, Generate::new(2));
    assert!(engine.generate_blocking(next).is_ok());
    assert!(matches!(
        running.wait_blocking(),
        Err(EngineError::Cancelled(CancelReason::Preempted))
    ));
}

/// [`slow_engine`] that also returns the log of prompts the backend saw.
fn logged_engine(tokens: usize) -> (Engine, Arc<Mutex<Vec<String>>>) {
    let mut fake = FakeBackend::new(move |_| "abc".repeat(tokens));
    fake.token_delay = Duration::from_millis(10);
    let log = fake.log.clone();
    (fake.spawn(), log)
}

#[test]
fn a_dropped_ticket_stops_its_request_and_pending_ones_never_run() {
    let (engine, log) = logged_engine(1000);
    let running = engine.submit(request("a", Priority::Interactive));
    // In the backend (its prompt logged), not only taken off the queue.
    while log.lock().unwrap().is_empty() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let token = running.cancel_token();
    // Queued behind it, then abandoned by its caller.
    let abandoned = engine.submit(request("b", Priority::Interactive));
    drop(abandoned);
    drop(running);
    assert!(token.is_cancelled());
    // The engine is free at once for the next request (10 s of tokens were asked for
    // `a`; it ends at the next token), and `b` never reached the backend.
    let next = request_of("c", Priority::Interactive, Generate::new(2));
    assert!(engine.generate_blocking(next).is_ok());
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen, ["a", "c"], "{seen:?}");
}

#[test]
fn shutdown_ends_running_and_pending_requests() {
    let engine = slow_engine(1000);
    let running = engine.submit(request("a", Priority::Interactive));
    started(&engine);
    let pending = engine.submit(request("b", Priority::Interactive));
    let watch = engine.watch();
    drop(engine);
    assert!(matches!(
        running.wait_blocking(),
        Err(EngineError::Cancelled(CancelReason::Shutdown))
    ));
    assert!(matches!(
        pending.wait_blocking(),
        Err(EngineError::Cancelled(CancelReason::Shutdown))
    ));
    assert!(matches!(*watch.borrow(), EngineState::Stopped));
}

#[test]
fn a_failed_load_answers_every_request_with_its_reason() {
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let engine = Engine::spawn(move |starter| {
        go_rx.recv().unwrap();
        starter.fail("no such file: m.gguf".into());
    });
    // Queued while loading, refused when the load fails.
    let early = engine.submit(request("a", Priority::Interactive));
    go_tx.send(()).unwrap();
    assert!(matches!(
        early.wait_blocking(),
        Err(EngineError::LoadFailed(m)) if m.contains("m.gguf")
    ));
    // Submitted afterwards: refused at once, the same way.
    assert!(matches!(
        engine.generate_blocking(request("b", Priority::Interactive)),
        Err(EngineError::LoadFailed(_))
    ));
    // The state follows the refusals (waited for: it is published last).
    assert!(matches!(
        engine.ready_blocking(),
        Err(EngineError::LoadFailed(_))
    ));
    assert!(matches!(engine.state(), EngineState::Failed(_)));
}
