//! `jitsi-meet-tokens status`: what is installed and every check that matters.
