//! The crate's error type. Library code says *whose* problem an error is; only `main` turns that
//! into a message and an exit code.

use std::fmt::Display;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad usage, configuration, input or environment that the user can fix (exit code 2).
    #[error("{0}")]
    Input(String),
    /// Something that should not happen whatever the input (exit code 1).
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn input(msg: impl Into<String>) -> Self {
        Error::Input(msg.into())
    }

    pub fn internal(msg: impl Into<String>) -> Self {
        Error::Internal(msg.into())
    }

    /// The same error, its message preceded by where it happened (`cameras.gate.url: ...`).
    pub fn prefixed(self, what: &str) -> Self {
        match self {
            Error::Input(m) => Error::Input(format!("{what}: {m}")),
            Error::Internal(m) => Error::Internal(format!("{what}: {m}")),
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            Error::Internal(_) => 1,
        }
    }
}

/// Attaches a description of what was being done to a foreign error.
pub trait Context<T> {
    /// The failure is the user's to fix (a bad file, value or path).
    fn input_err(self, what: impl FnOnce() -> String) -> Result<T>;
    /// The failure is ours (a library call that should not fail on valid input).
    fn internal_err(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn input_err(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Input(format!("{}: {}", what(), first_line(&e.to_string()))))
    }

    fn internal_err(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Internal(format!("{}: {}", what(), first_line(&e.to_string()))))
    }
}

/// Foreign libraries (OpenCV, ONNX Runtime) write multi-line reports; users get one line.
pub fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}
