//! Lossless editors for the files of a Jitsi Meet server that a secure domain touches:
//! Jitsi Meet's web config (`config.js`, JavaScript) and Jicofo's `jicofo.conf` (HOCON).
//! Each edit goes through a real parser of the format, changes only the bytes it
//! must, is idempotent, and can be undone byte for byte from the text recorded before
//! it. A file whose shape is not understood is reported, never edited.

pub mod jicofo;
pub mod jigasi;
pub mod meet_config;
pub mod restart;

#[cfg(test)]
mod tests;

/// A file this module will not edit, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {reason}; nothing was changed ({fix})")]
pub struct ShapeError {
    pub file: &'static str,
    pub reason: String,
    pub fix: &'static str,
}
