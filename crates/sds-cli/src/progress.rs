//! Progress display for long imports and exports: an indicatif bar on stderr that appears
//! only when the work takes more than a moment and stderr is a terminal. On a pipe nothing is
//! drawn.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long work runs before the bar appears.
const SHOW_AFTER: Duration = Duration::from_millis(400);

/// A progress bar that stays hidden until [`SHOW_AFTER`] has passed.
pub struct Progress {
    bar: ProgressBar,
    /// Dropping the sender tells the watcher that the work is done.
    done: Option<mpsc::Sender<()>>,
    watcher: Option<JoinHandle<()>>,
}

impl Progress {
    /// A spinner with a message, for work without a known length.
    pub fn spinner(message: impl Into<String>) -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.into());
        Progress::start(bar)
    }

    /// A bar over `len` steps.
    pub fn counter(len: u64, message: impl Into<String>) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message.into());
        Progress::start(bar)
    }

    fn start(bar: ProgressBar) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress {
                bar,
                done: None,
                watcher: None,
            };
        }
        let (done, finished) = mpsc::channel::<()>();
        let shown = bar.clone();
        let watcher = std::thread::Builder::new()
            .name("sds-progress".into())
            .spawn(move || {
                if finished.recv_timeout(SHOW_AFTER) == Err(mpsc::RecvTimeoutError::Timeout) {
                    shown.set_draw_target(ProgressDrawTarget::stderr());
                    shown.enable_steady_tick(Duration::from_millis(120));
                }
            })
            .ok();
        Progress {
            bar,
            done: Some(done),
            watcher,
        }
    }

    /// Advances by `n` steps.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Changes the message (a new phase of the work).
    pub fn set_message(&self, message: impl Into<String>) {
        self.bar.set_message(message.into());
    }

    /// Removes the bar.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        drop(self.done.take());
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}
