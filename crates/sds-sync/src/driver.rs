//! The driver: runs an [`Engine`] on a dedicated thread, feeds it the clock (timers) and
//! commands, and offers an async handle for tokio applications.
//!
//! Store and persistence calls are blocking (SQLite, CRDT work); running them on their own
//! thread keeps them off the async executor, and the thread's `recv_timeout` is the timer
//! wheel: it wakes for the next command or the engine's next deadline, whichever comes first.

use crate::engine::{Engine, EngineEvent};
use crate::error::{Result, SyncError};
use sds_core::{Backend, Store};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc as async_mpsc, oneshot};

type Job<B> = Box<dyn FnOnce(&mut Engine<B>) + Send>;

enum Command<B: Backend> {
    Run(Job<B>),
    Stop(oneshot::Sender<Result<()>>),
}

/// The current time in milliseconds since the Unix epoch: the driver's clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Events the engine reported, delivered by the driver.
pub type EventReceiver = async_mpsc::UnboundedReceiver<EngineEvent>;

/// An async handle on an engine running on its own thread.
pub struct EngineHandle<B: Backend> {
    commands: mpsc::Sender<Command<B>>,
    worker: Option<thread::JoinHandle<()>>,
}

impl<B: Backend> std::fmt::Debug for EngineHandle<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").finish_non_exhaustive()
    }
}

impl<B: Backend> EngineHandle<B> {
    /// Moves the engine onto a new thread. Returns the handle and the engine's events.
    pub fn spawn(engine: Engine<B>) -> std::io::Result<(Self, EventReceiver)> {
        let (commands, receiver) = mpsc::channel();
        let (events, event_receiver) = async_mpsc::unbounded_channel();
        let worker = thread::Builder::new()
            .name("sds-engine".into())
            .spawn(move || run_worker(engine, receiver, events))?;
        Ok((
            EngineHandle {
                commands,
                worker: Some(worker),
            },
            event_receiver,
        ))
    }

    /// Runs `f` on the engine's thread and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine<B>) -> T + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Run(Box::new(move |engine| {
                let _ = reply.send(f(engine));
            })))
            .map_err(|_| SyncError::Stopped)?;
        answer.await.map_err(|_| SyncError::Stopped)
    }

    /// Runs `f` as one durable store transaction on the engine's thread.
    pub async fn transact<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store<B>) -> sds_core::Result<T> + Send + 'static,
    ) -> Result<T> {
        self.run(move |engine| engine.transact(f)).await?
    }

    /// Applies a received patch on the engine's thread (durable on receipt).
    pub async fn apply_remote_patch(&self, patch: Vec<u8>) -> Result<sds_core::RemotePatchOutcome> {
        self.run(move |engine| engine.apply_remote_patch(&patch))
            .await?
    }

    /// Stops the engine (checkpoint, close) and waits for its thread.
    pub async fn stop(mut self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Stop(reply))
            .map_err(|_| SyncError::Stopped)?;
        let result = answer.await.map_err(|_| SyncError::Stopped)?;
        if let Some(worker) = self.worker.take() {
            // The worker returns right after answering; joining cannot block for long.
            let _ = tokio::task::spawn_blocking(move || worker.join()).await;
        }
        result
    }
}

impl<B: Backend> Drop for EngineHandle<B> {
    fn drop(&mut self) {
        // Dropping the sender ends the worker loop, which stops the engine (checkpoint).
        if let Some(worker) = self.worker.take() {
            let (dummy, _) = mpsc::channel();
            drop(std::mem::replace(&mut self.commands, dummy));
            let _ = worker.join();
        }
    }
}

fn run_worker<B: Backend>(
    mut engine: Engine<B>,
    commands: mpsc::Receiver<Command<B>>,
    events: async_mpsc::UnboundedSender<EngineEvent>,
) {
    loop {
        let now = now_ms();
        if engine.poll_timeout().is_some_and(|due| due <= now) {
            engine.handle_timeout(now);
        }
        forward_events(&mut engine, &events);
        let next = match engine.poll_timeout() {
            Some(due) => commands.recv_timeout(Duration::from_millis(due.saturating_sub(now_ms()))),
            None => commands.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok(Command::Run(job)) => job(&mut engine),
            Ok(Command::Stop(reply)) => {
                let result = engine.stop();
                forward_events(&mut engine, &events);
                let _ = reply.send(result);
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                if let Err(error) = engine.stop() {
                    tracing::error!(%error, "stopping the engine failed");
                }
                forward_events(&mut engine, &events);
                return;
            }
        }
    }
}

fn forward_events<B: Backend>(
    engine: &mut Engine<B>,
    events: &async_mpsc::UnboundedSender<EngineEvent>,
) {
    while let Some(event) = engine.poll_event() {
        // Nobody listening is fine: events are informational.
        let _ = events.send(event);
    }
}
