//! The config writer: any domain, app id, secret and issuers either are refused
//! (the domain rule) or give a host file that Prosody's loader (real Lua) reads back
//! with exactly those values, before and after an edit, and nothing else.
#![no_main]

use jitsi_meet_tokens::config_edit::{check_written_values, Loader};
use libfuzzer_sys::fuzz_target;

type Values = (String, Vec<u8>, Vec<String>);

fuzz_target!(|input: (String, Values, Values)| {
    let (domain, a, b) = input;
    let loader = Loader::default();
    if let Err(e) = check_written_values(
        &loader,
        &domain,
        (&a.0, &a.1, &a.2),
        (&b.0, &b.1, &b.2),
    ) {
        panic!("{e}");
    }
});
