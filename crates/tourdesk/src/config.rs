//! Configuration: every variable of the spec's Configuration section under
//! its own name, plus the server's own. Each is an environment variable and a
//! `serve` flag; `tourdesk serve --help` lists them with their defaults.

use std::net::SocketAddr;

use clap::builder::BoolishValueParser;
use tourdesk_domain::Rate;
use tourdesk_service::defaults;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqliteSync {
    Full,
    Normal,
}

/// Everything `tourdesk serve` can be told.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Database: sqlite://PATH (created on first start) or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/tourdesk.db"
    )]
    pub database_url: String,

    /// Address the HTTP server listens on.
    #[arg(long = "bind", env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,

    /// Connections in the pool (PostgreSQL) or read connections (SQLite).
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,

    /// Group commit: the most booking requests one transaction (and one
    /// commit flush) serves; 1 turns batching off (one transaction each).
    #[arg(long, env = "GROUP_COMMIT_MAX_BATCH", default_value_t = defaults::GROUP_COMMIT_MAX_BATCH,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub group_commit_max_batch: u32,

    /// Group commit: the longest a booking request waits for others to
    /// join its batch, in milliseconds (0: none; a full batch never waits).
    #[arg(long, env = "GROUP_COMMIT_DELAY_MS", default_value_t = defaults::GROUP_COMMIT_DELAY_MS,
          value_parser = clap::value_parser!(u32).range(0..=50))]
    pub group_commit_delay_ms: u32,

    /// Calendar cache: the most departures the month view and the
    /// availability check keep in memory (about 100 bytes each); 0 turns
    /// it off. Exact: a cached month serves only while nothing has been
    /// committed since it was read (any instance, any process).
    #[arg(long, env = "CALENDAR_CACHE_DEPARTURES", default_value_t = defaults::CALENDAR_CACHE_DEPARTURES,
          value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pub calendar_cache_departures: u32,

    /// Calendar cache: how long, in milliseconds, the database must have
    /// gone without a commit before reads fill the cache (while it is
    /// busy, reads go to the database).
    #[arg(long, env = "CALENDAR_CACHE_QUIET_MS", default_value_t = defaults::CALENDAR_CACHE_QUIET_MS,
          value_parser = clap::value_parser!(u32).range(0..=60_000))]
    pub calendar_cache_quiet_ms: u32,

    /// SQLite durability: `full` survives power loss; `normal` only a process crash.
    #[arg(long, env = "SQLITE_SYNCHRONOUS", value_enum, default_value = "full")]
    pub sqlite_synchronous: SqliteSync,

    /// How many days ahead customers may book (and slots are generated).
    #[arg(long, env = "BOOKING_ADVANCE_DAYS", default_value_t = defaults::BOOKING_ADVANCE_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=3660))]
    pub booking_advance_days: u32,

    /// Bookings close this many hours before a slot starts.
    #[arg(long, env = "BOOKING_CUTOFF_HOURS", default_value_t = defaults::BOOKING_CUTOFF_HOURS,
          value_parser = clap::value_parser!(u32).range(0..=8760))]
    pub booking_cutoff_hours: u32,

    /// Smallest party a booking may have.
    #[arg(long, env = "MIN_BOOKING_SIZE", default_value_t = defaults::MIN_BOOKING_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub min_booking_size: u32,

    /// Largest party a booking may have.
    #[arg(long, env = "MAX_BOOKING_SIZE", default_value_t = defaults::MAX_BOOKING_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub max_booking_size: u32,

    /// Hours a notified waitlist entry has to claim its held spots.
    #[arg(long, env = "WAITLIST_NOTIFICATION_EXPIRY_HOURS", default_value_t = defaults::WAITLIST_NOTIFICATION_EXPIRY_HOURS,
          value_parser = clap::value_parser!(u32).range(1..=720))]
    pub waitlist_notification_expiry_hours: u32,

    /// Offer freed spots to the waitlist automatically.
    #[arg(long, env = "WAITLIST_AUTO_PROCESS", default_value_t = defaults::WAITLIST_AUTO_PROCESS,
          value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub waitlist_auto_process: bool,

    /// Children pay (1 - this) of the adult price.
    #[arg(long, env = "DEFAULT_CHILD_DISCOUNT", default_value = defaults::CHILD_DISCOUNT)]
    pub default_child_discount: Rate,

    /// Tax on (subtotal - discount).
    #[arg(long, env = "TAX_RATE", default_value = defaults::TAX_RATE)]
    pub tax_rate: Rate,

    /// Oldest age that counts as an infant (free).
    #[arg(long, env = "INFANT_MAX_AGE", default_value_t = defaults::INFANT_MAX_AGE,
          value_parser = clap::value_parser!(u32).range(0..=17))]
    pub infant_max_age: u32,

    /// Oldest age that counts as a child.
    #[arg(long, env = "CHILD_MAX_AGE", default_value_t = defaults::CHILD_MAX_AGE,
          value_parser = clap::value_parser!(u32).range(0..=25))]
    pub child_max_age: u32,

    /// Default cancellation policy: `hours:percent` tiers, longest notice
    /// first, ending at 0 hours (`72:100,24:50,0:0`: 100 % at least 72 h
    /// before, 50 % at least 24 h before, nothing after). A tour may set its
    /// own.
    #[arg(long, env = "CANCELLATION_POLICY", default_value = defaults::CANCELLATION_POLICY,
          value_parser = parse_cancellation_policy)]
    pub cancellation_policy: RefundTiers,

    /// Default fee kept from every cancellation refund, in the tour's
    /// currency (e.g. `5.00`).
    #[arg(long, env = "CANCELLATION_FEE", default_value = defaults::CANCELLATION_FEE,
          value_parser = parse_fee)]
    pub cancellation_fee: i64,

    /// Whether infants take a seat (count toward a departure's capacity).
    #[arg(long, env = "INFANTS_TAKE_SEAT", default_value_t = defaults::INFANTS_TAKE_SEAT,
          value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub infants_take_seat: bool,

    /// At least one adult per this many children and infants (0: no limit).
    #[arg(long, env = "MAX_MINORS_PER_ADULT", default_value_t = defaults::MAX_MINORS_PER_ADULT,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub max_minors_per_adult: u32,

    /// At most this many infants per adult (0: no limit).
    #[arg(long, env = "MAX_INFANTS_PER_ADULT", default_value_t = defaults::MAX_INFANTS_PER_ADULT,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub max_infants_per_adult: u32,

    /// Prefix of booking references (`ST-20251102-ABC123`).
    #[arg(long, env = "BOOKING_REFERENCE_PREFIX", default_value = defaults::BOOKING_REFERENCE_PREFIX,
          value_parser = parse_reference_prefix)]
    pub booking_reference_prefix: String,

    /// Minutes between runs of the job that keeps every active schedule
    /// generated BOOKING_ADVANCE_DAYS ahead (it also runs at start).
    #[arg(long, env = "SLOT_GENERATION_INTERVAL_MINUTES", default_value_t = 24 * 60,
          value_parser = clap::value_parser!(u32).range(1..=10080))]
    pub slot_generation_interval_minutes: u32,

    /// Minutes a `pending` booking may stay unconfirmed before it is
    /// cancelled and its spots released; 0 keeps pending bookings forever.
    #[arg(long, env = "PENDING_HOLD_MINUTES", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=525600))]
    pub pending_hold_minutes: u32,

    /// Hours a login token stays valid.
    #[arg(long, env = "AUTH_TOKEN_TTL_HOURS", default_value_t = defaults::AUTH_TOKEN_TTL_HOURS,
          value_parser = clap::value_parser!(u32).range(1..=8760))]
    pub auth_token_ttl_hours: u32,

    /// With ADMIN_PASSWORD: at start, make sure this admin exists (created,
    /// or promoted with the password reset).
    #[arg(long, env = "ADMIN_EMAIL")]
    pub admin_email: Option<String>,

    /// Password of the ADMIN_EMAIL admin (at least 10 characters).
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Login attempts per client address per minute.
    #[arg(long, env = "RATE_LIMIT_LOGIN_PER_MINUTE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub rate_limit_login_per_minute: u32,

    /// Registrations per client address per minute.
    #[arg(long, env = "RATE_LIMIT_REGISTER_PER_MINUTE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub rate_limit_register_per_minute: u32,

    /// Booking-reference lookups per client address per minute.
    #[arg(long, env = "RATE_LIMIT_LOOKUP_PER_MINUTE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub rate_limit_lookup_per_minute: u32,

    /// Booking creates and waitlist joins per client address per window
    /// (admins are not limited); 0 turns the limit off.
    #[arg(long, env = "RATE_LIMIT_BOOKING_PER_MINUTE", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(0..=100000))]
    pub rate_limit_booking_per_minute: u32,

    /// Booking creates and waitlist joins per customer email per window
    /// (admins are not limited); 0 turns the limit off.
    #[arg(long, env = "RATE_LIMIT_BOOKING_PER_EMAIL", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(0..=100000))]
    pub rate_limit_booking_per_email: u32,

    /// Most pending (unconfirmed) guest bookings one email may hold at once;
    /// 0 turns the cap off.
    #[arg(long, env = "MAX_PENDING_PER_EMAIL", default_value_t = defaults::MAX_PENDING_PER_EMAIL,
          value_parser = clap::value_parser!(u32).range(0..=100000))]
    pub max_pending_per_email: u32,

    /// Days after the departure (or the waitlisted date) that a booking's or
    /// waitlist entry's manage token keeps working; afterwards the guest
    /// link opens nothing.
    #[arg(long, env = "MANAGE_TOKEN_DAYS_AFTER_DEPARTURE", default_value_t = defaults::MANAGE_TOKEN_DAYS_AFTER_DEPARTURE,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub manage_token_days_after_departure: u32,

    /// Days a delivered notification (outbox event) is kept after its
    /// delivery; the retention job deletes older ones. Undelivered events
    /// are never deleted.
    #[arg(long, env = "OUTBOX_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub outbox_retention_days: u32,

    /// Minutes between rounds of the retention job, which deletes delivered
    /// outbox events past OUTBOX_RETENTION_DAYS, expired idempotency keys,
    /// dead manage tokens and dead login/session tokens (it also runs at start).
    #[arg(long, env = "RETENTION_INTERVAL_MINUTES", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=10080))]
    pub retention_interval_minutes: u32,

    /// Rows the retention job deletes per transaction; between two batches
    /// bookings get the database.
    #[arg(long, env = "RETENTION_BATCH_SIZE", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub retention_batch_size: u32,

    /// Seconds a stopping server waits for requests in flight before it
    /// closes the connections still open.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub shutdown_timeout_seconds: u32,

    /// Most client connections served at once; more wait in the listen
    /// queue until one closes (keeps file descriptors for the database).
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub http_max_connections: u32,

    /// Seconds a request may run before the client is answered 408. A
    /// change already started still completes; retrying with the same
    /// Idempotency-Key tells the outcome.
    #[arg(long, env = "REQUEST_TIMEOUT_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub request_timeout_seconds: u32,

    /// Create the SQLite database file when it does not exist. Without it a
    /// missing database stops the start: one that vanished is never silently
    /// replaced by an empty one. `--demo` implies it.
    #[arg(long, env = "DATABASE_CREATE")]
    pub create: bool,

    /// Length of the rate-limit window in seconds (limits above are per window).
    #[arg(long, env = "RATE_LIMIT_WINDOW_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=86400))]
    pub rate_limit_window_seconds: u32,

    /// How many proxies in front of Tourdesk append to X-Forwarded-For:
    /// `false`/`0` ignores the header (the socket address is the client),
    /// `true` means one, `N` means N. The client address is the entry N
    /// places from the right (what the outermost trusted proxy saw), so
    /// entries a client adds itself are never believed.
    #[arg(long, env = "TRUST_PROXY", default_value = "false", value_parser = parse_trust_proxy)]
    pub trust_proxy: u32,

    /// Origins (comma-separated, e.g. https://spirittours.com) whose pages may
    /// call the API from the browser: the embedded booking components. `*`
    /// allows any origin.
    #[arg(
        long,
        env = "ALLOWED_ORIGINS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub allowed_origins: Vec<String>,

    /// SMTP server for customer email: `smtp://user:pass@host:587` (STARTTLS)
    /// or `smtps://user:pass@host:465` (TLS); `smtp://host:25?tls=none` for
    /// a local relay. Unset: email is rendered and kept for preview only.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// The sender of customer email (`Spirit Tours <bookings@spirittours.com>`).
    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "Tourdesk <no-reply@localhost>"
    )]
    pub mail_from: String,

    /// The origin links in email point at (`https://book.spirittours.com`).
    /// Default: the BIND_ADDR's address over http.
    #[arg(long, env = "PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    /// The operator's name: page headers and titles, and email.
    #[arg(long, env = "OPERATOR_NAME", default_value = "Tourdesk")]
    pub operator_name: String,

    /// The brand colour (`#RRGGBB`) of links, buttons and highlights on the
    /// pages and in email. White text must stay readable on it (contrast at
    /// least 4.5:1).
    #[arg(long, env = "BRAND_COLOR", default_value = "#0b5cad")]
    pub brand_color: String,

    /// The operator's logo, a file read at start (SVG, PNG, JPEG or WebP, at
    /// most 512 KB), shown in page headers and email; served at
    /// `/brand/logo`.
    #[arg(long, env = "BRAND_LOGO")]
    pub brand_logo: Option<std::path::PathBuf>,

    /// Where customers' questions go: shown in email and used as Reply-To.
    #[arg(long, env = "SUPPORT_EMAIL")]
    pub support_email: Option<String>,

    /// Attempts to send one email before it is dead-lettered (shown to
    /// admins with a retry action); retries back off 1, 2, 4, ... minutes.
    #[arg(long, env = "EMAIL_MAX_ATTEMPTS", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=50))]
    pub email_max_attempts: u32,

    /// Hours before a departure that its customers get a reminder email
    /// (once; not for bookings made inside that window); 0 = no reminders.
    #[arg(long, env = "REMINDER_HOURS", default_value_t = 24,
          value_parser = clap::value_parser!(u32).range(0..=720))]
    pub reminder_hours: u32,

    /// Seconds a webhook receiver has to answer one delivery (connecting
    /// included) before the attempt counts as failed.
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=60))]
    pub webhook_timeout_seconds: u32,

    /// Attempts to deliver one webhook event before it is dead-lettered
    /// (shown to admins with a replay action); retries back off 30 s, 1, 2,
    /// 4, ... minutes, at most 6 hours apart.
    #[arg(long, env = "WEBHOOK_MAX_ATTEMPTS", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(1..=50))]
    pub webhook_max_attempts: u32,

    /// A bearer token that opens `GET /metrics` to callers other than the
    /// loopback address (Prometheus on another host).
    #[arg(long, env = "METRICS_TOKEN")]
    pub metrics_token: Option<String>,

    /// Serve `/metrics` on this address instead (no token; e.g. a private
    /// interface only Prometheus reaches); the main address then answers 404.
    #[arg(long, env = "METRICS_BIND")]
    pub metrics_bind: Option<std::net::SocketAddr>,

    /// Fill an empty database with a demo operator (tours, schedules,
    /// bookings, a waitlist) and print the admin login. Never touches a
    /// database that already holds tours.
    #[arg(long, env = "TOURDESK_DEMO")]
    pub demo: bool,

    /// Log lines as human-readable text or JSON.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

fn parse_trust_proxy(v: &str) -> Result<u32, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "false" | "no" | "off" | "0" | "" => Ok(0),
        "true" | "yes" | "on" => Ok(1),
        n => n
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= 10)
            .ok_or_else(|| format!("`{v}`: expected false, true or a number of proxies (0-10)")),
    }
}

/// A cancellation policy's tiers, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundTiers(pub Vec<tourdesk_domain::policy::RefundTier>);

fn parse_cancellation_policy(s: &str) -> Result<RefundTiers, String> {
    use tourdesk_domain::policy::CancellationPolicy;
    let tiers = CancellationPolicy::parse_tiers(s).map_err(|e| e.message)?;
    CancellationPolicy::new(tiers.clone(), 0).map_err(|e| e.to_string())?;
    Ok(RefundTiers(tiers))
}

/// A fee in hundredths of the major unit: `5`, `5.00`, `0.5`.
fn parse_fee(s: &str) -> Result<i64, String> {
    let cents = tourdesk_domain::Currency::usd()
        .parse_amount(s.trim())
        .map_err(|e| e.to_string())?;
    if cents < 0 {
        return Err("must not be negative".into());
    }
    if cents > 1_000_000 {
        return Err("must be at most 10000".into());
    }
    Ok(cents)
}

fn parse_reference_prefix(s: &str) -> Result<String, String> {
    if (1..=8).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        Ok(s.to_owned())
    } else {
        Err("must be 1 to 8 characters of A-Z and 0-9".into())
    }
}

impl Config {
    /// Rules between variables, checked after each parsed on its own.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(t) = &self.metrics_token
            && (t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(
                "METRICS_TOKEN: must be at least 16 printable characters without spaces".into(),
            );
        }
        if self.max_booking_size < self.min_booking_size {
            return Err(format!(
                "MAX_BOOKING_SIZE ({}) must be at least MIN_BOOKING_SIZE ({})",
                self.max_booking_size, self.min_booking_size
            ));
        }
        if self.child_max_age <= self.infant_max_age {
            return Err(format!(
                "CHILD_MAX_AGE ({}) must be greater than INFANT_MAX_AGE ({})",
                self.child_max_age, self.infant_max_age
            ));
        }
        tourdesk_store::Backend::from_url(&self.database_url).map_err(|e| e.to_string())?;
        for origin in self.allowed_origins.iter().filter(|o| !o.is_empty()) {
            let ok = origin == "*"
                || ((origin.starts_with("https://") || origin.starts_with("http://"))
                    && !origin
                        .trim_end_matches('/')
                        .split_once("//")
                        .is_some_and(|(_, rest)| rest.contains('/')));
            if !ok {
                return Err(format!(
                    "ALLOWED_ORIGINS: `{origin}` is not an origin like https://example.com"
                ));
            }
        }
        crate::web::validate_brand_color(&self.brand_color)
            .map_err(|e| format!("BRAND_COLOR: {e}"))?;
        if self.operator_name.trim().is_empty()
            || self.operator_name.chars().count() > 80
            || self.operator_name.chars().any(char::is_control)
        {
            return Err("OPERATOR_NAME: must be 1 to 80 characters on one line".into());
        }
        crate::mail::validate(self)?;
        match (&self.admin_email, &self.admin_password) {
            (Some(_), None) => return Err("ADMIN_EMAIL is set but ADMIN_PASSWORD is not".into()),
            (None, Some(_)) => return Err("ADMIN_PASSWORD is set but ADMIN_EMAIL is not".into()),
            (Some(email), Some(password)) => {
                let email = tourdesk_domain::Email::parse(email)
                    .map_err(|e| format!("ADMIN_EMAIL: {e}"))?;
                tourdesk_domain::Password::parse(password, &email)
                    .map_err(|e| format!("ADMIN_PASSWORD: {e}"))?;
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// Every default, ignoring the environment (for tests and tools).
    pub fn defaults() -> Config {
        let command =
            <Wrapper as clap::CommandFactory>::command().mut_args(|arg| arg.env(None::<&str>));
        let matches = command.get_matches_from(["tourdesk"]);
        let defaults = <Wrapper as clap::FromArgMatches>::from_arg_matches(&matches);
        match defaults {
            Ok(w) => w.config,
            // Every argument has a default that parses (tested below).
            Err(e) => panic!("built-in configuration defaults do not parse: {e}"),
        }
    }
}

#[derive(clap::Parser)]
struct Wrapper {
    #[command(flatten)]
    config: Config,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_validate() {
        let c = Config::defaults();
        assert_eq!(c.max_booking_size, 50);
        assert_eq!(c.tax_rate.to_string(), "0.1");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn brand_settings_are_checked() {
        let mut c = Config::defaults();
        c.brand_color = "#7A1F5C".into();
        assert!(c.validate().is_ok());
        for bad in ["blue", "#12345", "#ffcc00", "#ffffff", "0b5cad"] {
            c.brand_color = bad.into();
            assert!(
                c.validate().is_err_and(|e| e.starts_with("BRAND_COLOR")),
                "{bad}"
            );
        }
        let mut c = Config::defaults();
        c.operator_name = "  ".into();
        assert!(c.validate().is_err_and(|e| e.contains("OPERATOR_NAME")));
        c.operator_name = "Spirit\nTours".into();
        assert!(c.validate().is_err_and(|e| e.contains("OPERATOR_NAME")));
    }

    #[test]
    fn cross_field_rules_name_the_variables() {
        let mut c = Config::defaults();
        c.min_booking_size = 10;
        c.max_booking_size = 5;
        assert!(c.validate().is_err_and(|e| e.contains("MAX_BOOKING_SIZE")));
        let mut c = Config::defaults();
        c.database_url = "mysql://x".into();
        assert!(c.validate().is_err_and(|e| e.contains("DATABASE_URL")));
    }
}
