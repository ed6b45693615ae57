//! The command line: `tourdesk [serve]`, `migrate`, and the admin tools.

pub mod backup;

use clap::{Parser, Subcommand};

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "tourdesk",
    version,
    about = "Booking and availability calendar for tour operators"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server, web UI and background jobs (the default).
    Serve(Box<Config>),
    /// Apply pending database migrations and exit.
    Migrate(MigrateArgs),
    /// Recompute every slot's counters from its bookings and waitlist holds
    /// and report any drift (exit status 1 if there is some).
    Check(DatabaseArgs),
    /// Copy the SQLite database to FILE while the server runs: a consistent
    /// snapshot, verified, never overwriting a file (PostgreSQL: pg_dump).
    Backup(backup::BackupArgs),
    /// Replace the SQLite database with a verified backup, then migrate it
    /// (PostgreSQL: pg_restore).
    Restore(backup::RestoreArgs),
    /// Measure throughput, latency, memory and correctness against the
    /// database's own ceiling (see the README's Performance section): runs
    /// the `tourdesk-bench` binary beside this one with these arguments
    /// (`tourdesk bench --help` lists them).
    #[command(disable_help_flag = true)]
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (or update its password and role); the password is read
    /// from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Make the user an admin.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Change a user's role.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["admin", "customer"])]
        role: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Database: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/tourdesk.db"
    )]
    pub database_url: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Create the SQLite database file when it does not exist.
    #[arg(long, env = "DATABASE_CREATE")]
    pub create: bool,
}

impl DatabaseArgs {
    pub fn config(&self) -> Config {
        let mut config = Config::defaults();
        config.database_url = self.database_url.clone();
        config
    }
}

/// Renders a clap error as one line naming the variable, e.g.
/// `invalid value '-1' for TAX_RATE (--tax-rate): ...`.
pub fn one_line(err: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let arg = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let value = match err.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let first = err.to_string();
    let first = first
        .lines()
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ");
    match (arg, value) {
        (Some(arg), Some(value)) => {
            // `--tax-rate <TAX_RATE>` → `TAX_RATE (--tax-rate)`
            let (flag, name) = arg
                .split_once(" <")
                .map(|(f, n)| (f.to_owned(), n.trim_end_matches('>').to_owned()))
                .unwrap_or((arg.clone(), arg.clone()));
            let reason = first.rsplit_once("': ").map(|(_, r)| r).unwrap_or("");
            let reason = if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            };
            format!("invalid value '{value}' for {name} ({flag}){reason}")
        }
        _ => first.to_owned(),
    }
}
