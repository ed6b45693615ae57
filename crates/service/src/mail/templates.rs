//! The email templates, compiled once into one minijinja environment.

use super::*;

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../../templates/email/en/layout.html"),
    ),
    (
        "booking_details.html",
        include_str!("../../templates/email/en/booking_details.html"),
    ),
    (
        "booking_details.txt",
        include_str!("../../templates/email/en/booking_details.txt"),
    ),
    (
        "booking_created.txt",
        include_str!("../../templates/email/en/booking_created.txt"),
    ),
    (
        "booking_created.html",
        include_str!("../../templates/email/en/booking_created.html"),
    ),
    (
        "booking_confirmed.txt",
        include_str!("../../templates/email/en/booking_confirmed.txt"),
    ),
    (
        "booking_confirmed.html",
        include_str!("../../templates/email/en/booking_confirmed.html"),
    ),
    (
        "booking_reminder.txt",
        include_str!("../../templates/email/en/booking_reminder.txt"),
    ),
    (
        "booking_reminder.html",
        include_str!("../../templates/email/en/booking_reminder.html"),
    ),
    (
        "booking_changed.txt",
        include_str!("../../templates/email/en/booking_changed.txt"),
    ),
    (
        "booking_changed.html",
        include_str!("../../templates/email/en/booking_changed.html"),
    ),
    (
        "booking_cancelled.txt",
        include_str!("../../templates/email/en/booking_cancelled.txt"),
    ),
    (
        "booking_cancelled.html",
        include_str!("../../templates/email/en/booking_cancelled.html"),
    ),
    (
        "departure_cancelled.txt",
        include_str!("../../templates/email/en/departure_cancelled.txt"),
    ),
    (
        "departure_cancelled.html",
        include_str!("../../templates/email/en/departure_cancelled.html"),
    ),
    (
        "departure_guaranteed.txt",
        include_str!("../../templates/email/en/departure_guaranteed.txt"),
    ),
    (
        "departure_guaranteed.html",
        include_str!("../../templates/email/en/departure_guaranteed.html"),
    ),
    (
        "waitlist_joined.txt",
        include_str!("../../templates/email/en/waitlist_joined.txt"),
    ),
    (
        "waitlist_joined.html",
        include_str!("../../templates/email/en/waitlist_joined.html"),
    ),
    (
        "waitlist_offer.txt",
        include_str!("../../templates/email/en/waitlist_offer.txt"),
    ),
    (
        "waitlist_offer.html",
        include_str!("../../templates/email/en/waitlist_offer.html"),
    ),
    (
        "waitlist_rejoined.txt",
        include_str!("../../templates/email/en/waitlist_rejoined.txt"),
    ),
    (
        "waitlist_rejoined.html",
        include_str!("../../templates/email/en/waitlist_rejoined.html"),
    ),
    (
        "waitlist_expired.txt",
        include_str!("../../templates/email/en/waitlist_expired.txt"),
    ),
    (
        "waitlist_expired.html",
        include_str!("../../templates/email/en/waitlist_expired.html"),
    ),
];

/// The email templates, compiled once (compiling them was most of what
/// rendering an email cost).
pub(super) fn environment() -> Result<&'static Environment<'static>, String> {
    static COMPILED: LazyLock<Result<Environment<'static>, String>> =
        LazyLock::new(|| compile().map_err(|e| format!("{e:#}")));
    COMPILED.as_ref().map_err(Clone::clone)
}

fn compile() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    // HTML templates escape every value; text templates do not.
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    env.set_trim_blocks(true);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    Ok(env)
}

pub(super) fn template_error(e: minijinja::Error) -> ServiceError {
    ServiceError::internal(format!("email template: {e}"))
}
