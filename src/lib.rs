//! `jitsi-meet-tokens`: installer and token tools for JWT authentication on Prosody.
//!
//! Data flows one way: settings ([`settings`]: flags, environment, TOML) → detected
//! system ([`detect`], [`tree`]) → desired host config ([`config_edit::DesiredHost`])
//! → an edit [`plan`] (per file: old text, new text, masked diff) → apply
//! ([`validate`], [`apply`]: back up, write atomically; [`service`]: restart and
//! confirm, roll back on failure) → report ([`report`]). The library never prints:
//! everything goes through a [`report::Reporter`].

pub mod apply;
pub mod cli;
pub mod config_edit;
pub mod configure;
pub mod detect;
pub mod docker_env;
pub mod error;
pub mod fsops;
pub mod jitsi;
pub mod manpage;
pub mod native;
pub mod plan;
pub mod prompt;
pub mod provision;
pub mod report;
pub mod runner;
pub mod service;
pub mod settings;
pub mod state;
pub mod status;
pub mod token_cmd;
pub mod tree;
pub mod unconfigure;
pub mod validate;
