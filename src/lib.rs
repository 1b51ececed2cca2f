//! `jitsi-meet-tokens`: installer and token tools for JWT authentication on Prosody.
//!
//! Data flows one way: settings (flags, environment, TOML) → detected system
//! ([`detect`]) → desired host config → an edit plan (per file: old text, new text,
//! diff) → apply (validate, back up, write atomically, restart, confirm) → report.

pub mod cli;
pub mod config_edit;
pub mod status;
pub mod token_cmd;
