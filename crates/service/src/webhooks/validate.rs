//! What an operator may register as a webhook: its URL, events, secret
//! and description, each checked with a message naming the problem.

use super::*;

/// An absolute `http(s)://` URL with a host, no fragment, at most 2048
/// characters.
pub fn check_url(raw: &str) -> ServiceResult<String> {
    let raw = raw.trim();
    let bad = |why: &str| ServiceError::invalid("url", why.to_owned());
    if raw.is_empty() {
        return Err(bad("must not be empty"));
    }
    if raw.len() > MAX_URL {
        return Err(bad("must be at most 2048 characters"));
    }
    let url = url::Url::parse(raw).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(&format!(
            "must be an http:// or https:// address, not {}:",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("must name a host"));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a #fragment"));
    }
    Ok(url.to_string())
}

/// A non-empty list of known event types (or `*`), stored space-separated.
pub fn check_events(events: &[String]) -> ServiceResult<String> {
    if events.is_empty() {
        return Err(ServiceError::invalid(
            "events",
            "must name at least one event type, or \"*\" for all",
        ));
    }
    let mut chosen: Vec<&str> = Vec::new();
    for e in events {
        let e = e.trim();
        if e == ALL_EVENTS {
            return Ok(ALL_EVENTS.to_owned());
        }
        let Some(public) = event_types().find(|p| *p == e) else {
            let known: Vec<&str> = event_types().collect();
            let shown: String = e.chars().take(64).collect();
            return Err(ServiceError::invalid(
                "events",
                format!(
                    "unknown event type `{shown}` (one of {}, or \"*\")",
                    known.join(", ")
                ),
            ));
        };
        if !chosen.contains(&public) {
            chosen.push(public);
        }
    }
    Ok(chosen.join(" "))
}

/// 16 to 256 printable ASCII characters, no spaces.
pub fn check_secret(secret: &str) -> ServiceResult<String> {
    let ok_chars = secret.bytes().all(|b| b.is_ascii_graphic());
    if !(16..=256).contains(&secret.len()) || !ok_chars {
        return Err(ServiceError::invalid(
            "secret",
            "must be 16 to 256 printable ASCII characters without spaces (leave it out and one is made for you)",
        ));
    }
    Ok(secret.to_owned())
}

pub(super) fn check_description(text: &str) -> ServiceResult<String> {
    let text = text.trim();
    if text.chars().count() > MAX_DESCRIPTION || text.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "description",
            "must be one line of at most 200 characters",
        ));
    }
    Ok(text.to_owned())
}

/// The last characters of a secret, enough to tell two apart.
pub fn secret_hint(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

/// The event types an endpoint's stored `events` names.
pub fn events_list(events: &str) -> Vec<String> {
    events.split_whitespace().map(str::to_owned).collect()
}
