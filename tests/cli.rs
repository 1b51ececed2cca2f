//! Integration tests of the `jitsi-meet-tokens` binary: one test binary (faster links
//! on small machines), the cases live in `suite/`.
mod suite;
