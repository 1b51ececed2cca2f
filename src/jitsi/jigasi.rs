//! Jigasi's `sip-communicator.properties` (Java properties, read with a real parser):
//! the XMPP account Jigasi joins conference rooms with, which has no token.

use std::collections::HashMap;

pub const PATH: &str = "etc/jitsi/jigasi/sip-communicator.properties";
const USER_ID: &str = "org.jitsi.jigasi.xmpp.acc.USER_ID";
const ANONYMOUS_AUTH: &str = "org.jitsi.jigasi.xmpp.acc.ANONYMOUS_AUTH";

/// What the room check must let in for Jigasi: its account's bare JID, or its
/// domain when Jigasi logs in anonymously there (None: no account is set, so Jigasi
/// has no XMPP login of its own to allowlist).
pub fn account(text: &str) -> Result<Option<String>, String> {
    let props: HashMap<String, String> = java_properties::read(text.as_bytes())
        .map_err(|e| format!("/{PATH} is not a properties file Jigasi could read: {e}"))?;
    let Some(user) = props
        .get(USER_ID)
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
    else {
        return Ok(None);
    };
    let anonymous = props
        .get(ANONYMOUS_AUTH)
        .is_some_and(|a| a.trim().eq_ignore_ascii_case("true"));
    Ok(Some(match user.split_once('@') {
        Some((_, domain)) if anonymous => domain.to_string(),
        _ => user.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::account;

    #[test]
    fn the_account_jigasi_logs_in_with() {
        // As Jigasi's package ships it: the account lines commented out.
        let shipped = "# org.jitsi.jigasi.xmpp.acc.USER_ID=SOME_USER@SOME_DOMAIN\n\
                       # org.jitsi.jigasi.xmpp.acc.PASS=SOME_PASS\n\
                       # org.jitsi.jigasi.xmpp.acc.ANONYMOUS_AUTH=false\n";
        assert_eq!(account(shipped), Ok(None));
        let set = "org.jitsi.jigasi.xmpp.acc.USER_ID = jigasi@auth.meet.example.com\n\
                   org.jitsi.jigasi.xmpp.acc.PASS=s3cret\n\
                   org.jitsi.jigasi.xmpp.acc.ANONYMOUS_AUTH=false\n";
        assert_eq!(
            account(set).unwrap().as_deref(),
            Some("jigasi@auth.meet.example.com")
        );
        let anonymous = "org.jitsi.jigasi.xmpp.acc.USER_ID=jigasi@guest.meet.example.com\n\
                         org.jitsi.jigasi.xmpp.acc.ANONYMOUS_AUTH=true\n";
        assert_eq!(
            account(anonymous).unwrap().as_deref(),
            Some("guest.meet.example.com")
        );
    }
}
