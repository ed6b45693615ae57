//! Sending customer email over SMTP (lettre). The service renders and
//! stores messages (`tourdesk_service::mail`); this job claims the due ones,
//! sends each outside any transaction, and records the outcome, so a slow or
//! failing SMTP server never slows a booking.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};
use tourdesk_service::Context;
use tourdesk_service::mail::MailSettings;
use tourdesk_store::messages::MessageRow;

use crate::config::Config;

/// Checks the email settings, naming the variable at fault.
pub fn validate(config: &Config) -> Result<(), String> {
    if let Some(url) = &config.smtp_url {
        transport(url)?;
    }
    config
        .mail_from
        .parse::<Mailbox>()
        .map_err(|e| format!("MAIL_FROM: `{}` is not an address: {e}", config.mail_from))?;
    if let Some(support) = &config.support_email {
        support
            .parse::<Mailbox>()
            .map_err(|e| format!("SUPPORT_EMAIL: `{support}` is not an address: {e}"))?;
    }
    if let Some(base) = &config.public_base_url {
        public_host(base)?;
    }
    Ok(())
}

fn transport(url: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let scheme_ok = url.starts_with("smtp://") || url.starts_with("smtps://");
    if !scheme_ok {
        return Err("SMTP_URL: expected smtp://[user:pass@]host[:port] or smtps://...".into());
    }
    // `smtp://` means STARTTLS, required, unless `?tls=none` (a local relay)
    // or `?tls=opportunistic` says otherwise; lettre's own default is plain.
    let url = if url.starts_with("smtp://") {
        match url.split_once('?') {
            Some((head, query)) if query.split('&').any(|kv| kv == "tls=none") => {
                let rest: Vec<&str> = query.split('&').filter(|kv| *kv != "tls=none").collect();
                if rest.is_empty() {
                    head.to_owned()
                } else {
                    format!("{head}?{}", rest.join("&"))
                }
            }
            Some((_, query)) if query.split('&').any(|kv| kv.starts_with("tls=")) => url.to_owned(),
            Some(_) => format!("{url}&tls=required"),
            None => format!("{url}?tls=required"),
        }
    } else {
        url.to_owned()
    };
    AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
        .map(|b| b.timeout(Some(Duration::from_secs(30))).build())
        .map_err(|e| format!("SMTP_URL: {e}"))
}

/// The host of an `http(s)://host[:port]` origin.
fn public_host(base: &str) -> Result<String, String> {
    let uri: axum::http::Uri = base
        .parse()
        .map_err(|e| format!("PUBLIC_BASE_URL: `{base}` is not a URL: {e}"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let path_ok = matches!(uri.path(), "" | "/") && uri.query().is_none();
    match uri.host() {
        Some(host) if scheme_ok && path_ok => Ok(host.to_owned()),
        _ => Err(format!(
            "PUBLIC_BASE_URL: `{base}` must be an origin like https://book.example.com"
        )),
    }
}

/// What the service needs to render email, from the configuration.
pub fn settings(config: &Config, port: u16) -> MailSettings {
    let base = config
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}:{port}", config.bind_addr.ip()));
    MailSettings {
        public_base_url: base.trim_end_matches('/').to_owned(),
        operator_name: config.operator_name.clone(),
        brand_color: config.brand_color.to_ascii_lowercase(),
        logo_url: config
            .brand_logo
            .as_ref()
            .map(|_| format!("{}/brand/logo", base.trim_end_matches('/'))),
        support_email: config.support_email.clone(),
        delivery_enabled: config.smtp_url.is_some(),
        max_attempts: config.email_max_attempts,
    }
}

/// Sends due messages; one instance per server.
#[derive(Clone)]
pub struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    host: String,
}

impl Sender {
    /// `None` when no SMTP server is configured.
    pub fn from_config(config: &Config, mail: &MailSettings) -> Result<Option<Sender>, String> {
        let Some(url) = &config.smtp_url else {
            return Ok(None);
        };
        Ok(Some(Sender {
            transport: transport(url)?,
            from: config
                .mail_from
                .parse()
                .map_err(|e| format!("MAIL_FROM: {e}"))?,
            reply_to: config
                .support_email
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| format!("SUPPORT_EMAIL: {e}"))?,
            host: public_host(&mail.public_base_url).unwrap_or_else(|_| "tourdesk.invalid".into()),
        }))
    }

    /// The stable Message-ID of a stored message: a resend after a crash
    /// carries the same one, so receivers can drop the duplicate.
    pub fn message_id(&self, id: i64) -> String {
        format!("<tourdesk-message-{id}@{}>", self.host)
    }

    fn build(&self, m: &MessageRow) -> Result<Message, String> {
        let to: Mailbox = m
            .to_email
            .parse()
            .map_err(|e| format!("the recipient address is invalid: {e}"))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.clone())
            .message_id(Some(self.message_id(m.id)));
        if let Some(r) = &self.reply_to {
            builder = builder.reply_to(r.clone());
        }
        let body = MultiPart::alternative()
            .singlepart(SinglePart::plain(m.text_body.clone()))
            .singlepart(SinglePart::html(m.html_body.clone()));
        let body = match &m.ics {
            Some(ics) => {
                let method = if ics.contains("\nMETHOD:CANCEL") {
                    "CANCEL"
                } else {
                    "PUBLISH"
                };
                MultiPart::mixed().multipart(body).singlepart(
                    Attachment::new("booking.ics".into()).body(
                        ics.clone(),
                        ContentType::parse(&format!(
                            "text/calendar; charset=utf-8; method={method}"
                        ))
                        .map_err(|e| e.to_string())?,
                    ),
                )
            }
            None => body,
        };
        builder.multipart(body).map_err(|e| e.to_string())
    }

    /// One round: claim due messages and send each.
    pub async fn round(&self, ctx: &Context) -> usize {
        let due = match ctx.mail().claim_due(20).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim email to send");
                return 0;
            }
        };
        let n = due.len();
        for m in due {
            let outcome = match self.build(&m) {
                Ok(message) => match self.transport.send(message).await {
                    Ok(_) => Ok(()),
                    // 5xx from the server: the message will never be taken.
                    Err(e) => Err((e.to_string(), e.is_permanent())),
                },
                Err(why) => Err((why, true)),
            };
            let recorded = match outcome {
                Ok(()) => {
                    tracing::info!(message_id = m.id, kind = %m.kind, "email sent");
                    ctx.mail().mark_sent(m.id).await
                }
                Err((why, permanent)) => {
                    tracing::warn!(message_id = m.id, attempt = m.attempts, error = %why, "email not sent");
                    ctx.mail().mark_failed(&m, &why, permanent).await
                }
            };
            if let Err(e) = recorded {
                tracing::error!(message_id = m.id, error = %e, "cannot record an email's outcome");
            }
        }
        n
    }
}

/// The sender, shared by the job.
pub type SharedSender = Arc<Sender>;
