//! Golden, idempotence, revert and property tests (filled in below).
