//! Ctrl-C (SIGINT) and SIGTERM, which end a run cleanly: the final maps and
//! figures are still printed.

use tokio::signal::unix::{Signal, SignalKind, signal};

pub struct Stop {
    interrupt: Signal,
    terminate: Signal,
}

impl Stop {
    /// Starts listening. Do it before anything slow, so that a signal during
    /// start-up still ends the run cleanly rather than killing the process.
    pub fn listen() -> std::io::Result<Stop> {
        Ok(Stop {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Resolves when either signal arrives. Cancel-safe.
    pub async fn wait(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
