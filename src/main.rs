//! The `vigil` binary: logging set-up, then the command line; errors become one line and an exit code.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

fn main() {
    quiet_native_logs();
    report_file_size_limit_as_error();
    let cli = match vigil::cli::Cli::from_args() {
        Ok(cli) => cli,
        Err(e) => fail(&e),
    };
    bound_allocator_growth(matches!(cli.command, vigil::cli::Command::Serve(_)));
    let default_level = if cli.quiet { "warn" } else { "info" };
    // ONNX Runtime's own logging is very chatty below WARN.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level},ort=warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Escape codes only for a person at a terminal, not in a journal or a log file.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    match vigil::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => fail(&e),
    }
}

/// Reports an error as one line and exits with its code.
fn fail(e: &vigil::error::Error) -> ! {
    eprintln!("vigil: error: {e}");
    std::process::exit(e.exit_code())
}

/// glibc's allocator raises its mmap threshold after large buffers are freed and keeps a heap
/// per thread, so frame-sized buffers freed in one thread and allocated in another pile up as
/// fragments: a 4K run with annotated video peaked 20 MB higher than with the bounds below, and
/// a two-camera daemon grew by 40 MB over 10 minutes (scripts/soak.py). Two arenas, and a fixed
/// threshold above which buffers always go back to the system, keep memory to what is in use.
/// The daemon, which reopens decoders and encoders all day, maps every buffer over 128 KB afresh;
/// batch runs only those over 8 MB (4K pictures), which keeps vtest.avi's throughput (mapping
/// each VGA frame afresh cost 10 %). Set MALLOC_ARENA_MAX or GLIBC_TUNABLES to choose yourself.
fn bound_allocator_growth(daemon: bool) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none()
        && std::env::var_os("GLIBC_TUNABLES").is_none()
    {
        let threshold = if daemon { 128 << 10 } else { 8 << 20 };
        // SAFETY: mallopt only sets allocator parameters; called before any other thread.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, threshold);
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = daemon;
}

/// A file that reaches the process's size limit (`ulimit -f`) would kill vigil with SIGXFSZ,
/// losing the other outputs' last frames; ignored, the write fails with EFBIG and is reported
/// like a full disk: one line naming the file, the other outputs finalised.
fn report_file_size_limit_as_error() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: setting a signal's disposition to SIG_IGN, before any thread starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// FFmpeg and OpenCV print their own diagnostics straight to stderr; vigil reports every failure
/// itself in one line, so they are silenced unless the user asked for them through these variables.
fn quiet_native_logs() {
    for (var, quiet) in [
        ("OPENCV_FFMPEG_LOGLEVEL", "-8"),
        ("OPENCV_LOG_LEVEL", "SILENT"),
    ] {
        if std::env::var_os(var).is_none() {
            // Still single-threaded here, before any library reads the environment.
            std::env::set_var(var, quiet);
        }
    }
}
