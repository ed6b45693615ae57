//! Webhook backoff and what an operator may register.

use super::*;

#[test]
fn backoff_doubles_from_thirty_seconds_up_to_six_hours() {
    assert_eq!(backoff(1), Duration::seconds(30));
    assert_eq!(backoff(2), Duration::seconds(60));
    assert_eq!(backoff(3), Duration::seconds(120));
    assert_eq!(backoff(40), Duration::hours(6));
}

#[test]
fn events_are_checked_and_deduplicated() {
    let e = |v: &[&str]| check_events(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(
        e(&["booking.created", "booking.created", "departure.cancelled"]).ok(),
        Some("booking.created departure.cancelled".to_owned())
    );
    assert_eq!(e(&["booking.created", "*"]).ok(), Some("*".to_owned()));
    assert!(e(&[]).is_err());
    assert!(e(&["booking.modified"]).is_err());
    assert!(subscribes("*", "waitlist.claimed"));
    assert!(!subscribes("booking.created", "booking.cancelled"));
}

#[test]
fn urls_must_be_http_with_a_host() {
    assert!(check_url("https://hooks.example.com/tourdesk").is_ok());
    assert!(check_url("http://127.0.0.1:9000/in").is_ok());
    for bad in [
        "",
        "ftp://example.com/",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "https://example.com/#x",
        "not a url",
    ] {
        assert!(check_url(bad).is_err(), "{bad}");
    }
}
