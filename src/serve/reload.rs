//! SIGHUP: the daemon reads its config file again. The signal becomes a [`Command::Reload`] on
//! the supervisor's channel, so the reload happens between two commands, never during one.

use crossbeam_channel::Sender;

use super::supervisor::Command;
use crate::error::{Error, Result};

/// Starts the thread that turns each SIGHUP into a reload command.
pub fn on_sighup(commands: Sender<Command>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| Error::internal(format!("SIGHUP: cannot start its runtime: {e}")))?;
    // Registered here, before the daemon says it is ready, so an early SIGHUP never kills it.
    let mut hangups = runtime
        .block_on(async { tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) })
        .map_err(|e| Error::internal(format!("SIGHUP: cannot listen for it: {e}")))?;
    std::thread::Builder::new()
        .name("sighup".into())
        .spawn(move || {
            runtime.block_on(async {
                while hangups.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading the config file");
                    if commands.send(Command::Reload).is_err() {
                        break; // the daemon is stopping
                    }
                }
            })
        })
        .map_err(|e| Error::internal(format!("SIGHUP: cannot start its thread: {e}")))?;
    Ok(())
}
