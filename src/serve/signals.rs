//! The daemon's signals, on one thread: SIGHUP reads the config file again (a
//! [`Command::Reload`] on the supervisor's channel, so a reload happens between two commands,
//! never during one); SIGTERM and SIGINT stop the daemon (its outputs finished), a second one
//! aborts it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::Sender;
use tokio::signal::unix::{signal, Signal, SignalKind};

use super::supervisor::Command;
use crate::error::{Error, Result};
use crate::pipeline::Control;

/// Starts listening; registered before this returns, so no signal that comes later takes its
/// default action (SIGHUP's would end the process).
pub fn listen(commands: Sender<Command>, control: Arc<Control>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| Error::internal(format!("signals: cannot start their runtime: {e}")))?;
    let register = |kind: SignalKind| -> Result<Signal> {
        runtime
            .block_on(async { signal(kind) })
            .map_err(|e| Error::internal(format!("signals: cannot listen for them: {e}")))
    };
    let mut hangup = register(SignalKind::hangup())?;
    let mut terminate = register(SignalKind::terminate())?;
    let mut interrupt = register(SignalKind::interrupt())?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async {
                loop {
                    tokio::select! {
                        _ = hangup.recv() => {
                            tracing::info!("SIGHUP: reloading the config file");
                            // A daemon that is stopping has no channel left: nothing to reload.
                            let _ = commands.send(Command::Reload);
                        }
                        _ = terminate.recv() => stop(&control),
                        _ = interrupt.recv() => stop(&control),
                    }
                }
            })
        })
        .map_err(|e| Error::internal(format!("signals: cannot start their thread: {e}")))?;
    Ok(())
}

fn stop(control: &Control) {
    if control.stop.swap(true, Ordering::SeqCst) {
        std::process::exit(130);
    }
    tracing::warn!("stopping: finishing outputs (press Ctrl-C again to abort)");
}
