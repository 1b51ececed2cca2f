//! `jitsi-meet-tokens token mint|verify`: test tokens with the same native verifier.
