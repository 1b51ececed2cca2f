//! URLs as they may appear in logs and messages.

use url::Url;

/// `url` without userinfo and with every query value replaced by `***`: key-server
/// and keys URLs may carry credentials (`user:pass@`, `?access_token=`). A text that
/// does not parse as a URL is not shown at all, since its parts cannot be told apart.
pub fn loggable_url(raw: &str) -> String {
    let Ok(mut url) = Url::parse(raw) else {
        return "(a URL that does not parse)".into();
    };
    // Both fail only for URLs that cannot have userinfo; nothing to remove then.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_fragment(None);
    if url.query().is_some() {
        let names: Vec<String> = url
            .query_pairs()
            .map(|(name, _)| name.into_owned())
            .collect();
        if names.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut()
                .clear()
                .extend_pairs(names.iter().map(|n| (n, "***")));
        }
    }
    url.into()
}
