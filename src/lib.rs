//! `jitsi-meet-tokens`: installer and token tools for JWT authentication on Prosody.
