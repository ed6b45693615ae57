//! An SMTP server inside the test process (mailin-embedded) on a free
//! port, keeping every message it receives: the real SMTP conversation the
//! email tests and the process tests assert on.

#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mail_parser::MessageParser;

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

/// An SMTP server on a free port, keeping what it receives. Recipients
/// containing "refuse" are refused with 550.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    inbox: Arc<Mutex<Vec<Received>>>,
}

#[derive(Clone)]
struct Handler {
    inbox: Arc<Mutex<Vec<Received>>>,
    current: Option<Received>,
}

impl mailin_embedded::Handler for Handler {
    fn rcpt(&mut self, to: &str) -> mailin_embedded::Response {
        if to.contains("refuse") {
            mailin_embedded::response::NO_MAILBOX
        } else {
            mailin_embedded::response::OK
        }
    }

    fn data_start(
        &mut self,
        _domain: &str,
        from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.current = Some(Received {
            from: from.to_owned(),
            to: to.to_vec(),
            data: Vec::new(),
        });
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(c) = self.current.as_mut() {
            c.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        if let (Some(c), Ok(mut inbox)) = (self.current.take(), self.inbox.lock()) {
            inbox.push(c);
        }
        mailin_embedded::response::OK
    }
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind SMTP");
        let port = listener.local_addr().expect("addr").port();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let handler = Handler {
            inbox: inbox.clone(),
            current: None,
        };
        let mut server = mailin_embedded::Server::new(handler);
        server.with_name("smtp.test").with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        SmtpSink { port, inbox }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Waits for a message to `to` whose subject contains `subject`.
    pub async fn wait_for(&self, to: &str, subject: &str) -> Received {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self.inbox.lock().ok().and_then(|inbox| {
                inbox
                    .iter()
                    .find(|m| {
                        m.to.iter().any(|t| t == to)
                            && MessageParser::default()
                                .parse(&m.data)
                                .and_then(|p| p.subject().map(|s| s.contains(subject)))
                                .unwrap_or(false)
                    })
                    .cloned()
            });
            if let Some(m) = found {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no email to {to} with `{subject}` arrived; inbox: {:?}",
                self.subjects()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn subjects(&self) -> Vec<(Vec<String>, String)> {
        self.inbox
            .lock()
            .map(|inbox| {
                inbox
                    .iter()
                    .map(|m| {
                        let subject = MessageParser::default()
                            .parse(&m.data)
                            .and_then(|p| p.subject().map(str::to_owned))
                            .unwrap_or_default();
                        (m.to.clone(), subject)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every message received so far.
    pub fn all(&self) -> Vec<Received> {
        self.inbox.lock().map(|i| i.clone()).unwrap_or_default()
    }

    pub fn count_to(&self, to: &str) -> usize {
        self.inbox
            .lock()
            .map(|i| i.iter().filter(|m| m.to.iter().any(|t| t == to)).count())
            .unwrap_or(0)
    }
}
