//! What the command line says on standard output.

use crate::error::{Error, Result};

/// Writes a report to standard output. A reader that has gone (`vigil eval … | head`) is no
/// failure: the rest of the report is dropped and the run goes on to its other outputs; any
/// other failure to write (a full disk behind `>`) is the user's to see.
pub(crate) fn write_stdout(text: std::fmt::Arguments) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_fmt(text).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::input(format!(
            "cannot write to standard output: {e}"
        ))),
        _ => Ok(()),
    }
}

/// `println!` through `write_stdout`, returning its error with `?`.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::report::write_stdout(format_args!("{}\n", format_args!($($arg)*)))?
    };
}
pub(crate) use say;
