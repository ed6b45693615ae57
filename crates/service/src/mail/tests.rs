//! Templates parse; times name their zone across DST; backoff; links are encoded.

use super::*;

#[test]
fn every_template_parses() {
    assert!(environment().is_ok(), "{:?}", environment().err());
}

#[test]
fn local_times_name_the_zone_across_dst() {
    let d = |s: &str| s.parse::<NaiveDate>().unwrap_or_default();
    let t = NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default();
    let winter = local_when("Europe/Madrid", d("2030-01-15"), t);
    let summer = local_when("Europe/Madrid", d("2030-07-15"), t);
    assert!(winter.ends_with("09:00 (Europe/Madrid, CET)"), "{winter}");
    assert!(summer.ends_with("09:00 (Europe/Madrid, CEST)"), "{summer}");
    let instant = "2030-07-15T07:00:00Z"
        .parse::<DateTime<Utc>>()
        .unwrap_or_default();
    assert_eq!(local_instant("Europe/Madrid", instant), summer);
}

#[test]
fn backoff_doubles_up_to_six_hours() {
    assert_eq!(backoff(1), Duration::minutes(1));
    assert_eq!(backoff(2), Duration::minutes(2));
    assert_eq!(backoff(4), Duration::minutes(8));
    assert_eq!(backoff(20), Duration::minutes(360));
}

#[test]
fn links_are_encoded() {
    assert_eq!(url_encode("a+b@x.com"), "a%2Bb%40x.com");
}
