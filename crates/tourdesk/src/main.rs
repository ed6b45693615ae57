//! `tourdesk`: parse the command line, run the command, exit with one line
//! on failure (never a panic or a backtrace for a configuration mistake).

use std::process::ExitCode;

use clap::Parser;
use tourdesk::cli::{Cli, Command, UserCommand, one_line};
use tourdesk::config::Config;
use tourdesk::startup::{self, Application};
use tourdesk::telemetry;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            eprintln!("tourdesk: error: {}", one_line(&e));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tourdesk: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tourdesk: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = match cli.command {
        Some(c) => c,
        None => match Cli::try_parse_from(["tourdesk", "serve"]) {
            Ok(Cli { command: Some(c) }) => c,
            Ok(_) => anyhow::bail!("no command"),
            Err(e) => anyhow::bail!("{}", one_line(&e)),
        },
    };
    match command {
        Command::Serve(config) => serve(*config).await,
        Command::Migrate(args) => {
            let mut config = args.db.config();
            config.create = args.create;
            telemetry::init(config.log_format);
            let db = startup::open_database(&config).await?;
            db.close().await;
            println!(
                "migrations applied: {}",
                tourdesk_store_redacted(&config.database_url)
            );
            Ok(())
        }
        Command::User { command } => user(command).await,
        Command::Check(args) => check(args).await,
        Command::Backup(args) => tourdesk::cli::backup::backup(&args).await,
        Command::Restore(args) => tourdesk::cli::backup::restore(&args).await,
        Command::Bench { args } => bench(args),
    }
}

/// `tourdesk bench`: the benchmark is its own program (so this one links
/// no HTTP client); it runs with the same arguments and starts this binary
/// as the server under test.
fn bench(args: Vec<std::ffi::OsString>) -> anyhow::Result<()> {
    let me = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("bench: cannot locate this program: {e}"))?;
    let bench = me.with_file_name(format!("tourdesk-bench{}", std::env::consts::EXE_SUFFIX));
    if !bench.is_file() {
        anyhow::bail!(
            "bench: the benchmark is the tourdesk-bench binary, and there is none beside {} \
             (`cargo build --release` builds both)",
            me.display()
        );
    }
    let status = std::process::Command::new(&bench)
        .args(args)
        .env("TOURDESK_BIN", &me)
        .status()
        .map_err(|e| anyhow::anyhow!("bench: cannot run {}: {e}", bench.display()))?;
    // On failure the benchmark has said why on stderr.
    anyhow::ensure!(status.success(), "bench: tourdesk-bench {status}");
    Ok(())
}

async fn user(command: UserCommand) -> anyhow::Result<()> {
    use tourdesk_domain::Role;
    use tourdesk_service::{Context, Settings};
    let (db_args, action) = match &command {
        UserCommand::Create { db, .. } => (db, "create"),
        UserCommand::SetRole { db, .. } => (db, "set-role"),
    };
    let config = db_args.config();
    let db = startup::open_database(&config).await?;
    let ctx = Context::new(db.clone(), Settings::default());
    let result = match command {
        UserCommand::Create {
            email, name, admin, ..
        } => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            let role = if admin { Role::Admin } else { Role::Customer };
            ctx.accounts().upsert(&email, password, &name, role).await
        }
        UserCommand::SetRole { email, role, .. } => {
            let role = role.parse::<Role>().map_err(anyhow::Error::msg)?;
            ctx.accounts().set_role(&email, role).await
        }
    };
    db.close().await;
    let user = result.map_err(|e| anyhow::anyhow!("user {action}: {e}"))?;
    println!("user {} <{}> is {}", user.id, user.email, user.role);
    Ok(())
}

/// Design invariant 1, recomputed from the rows.
async fn check(args: tourdesk::cli::DatabaseArgs) -> anyhow::Result<()> {
    let config = args.config();
    let db = startup::open_database(&config).await?;
    let ctx = tourdesk_service::Context::new(db.clone(), tourdesk_service::Settings::default());
    let drift = ctx.availability().drift().await;
    db.close().await;
    let drift = drift.map_err(|e| anyhow::anyhow!("check: {e}"))?;
    if drift.is_empty() {
        println!("check: every slot's counters match its bookings and holds");
        return Ok(());
    }
    for d in &drift {
        println!(
            "slot {} (tour {}): current_bookings {} (rows say {}), held_spots {} (rows say {}), max_capacity {}",
            d.slot_id,
            d.tour_id,
            d.current_bookings,
            d.expected_bookings,
            d.held_spots,
            d.expected_held,
            d.max_capacity
        );
    }
    anyhow::bail!("check: {} slot(s) drifted", drift.len())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    telemetry::init(config.log_format);
    let app = Application::build(config.clone()).await?;
    if config.demo {
        let base = format!("http://{}:{}", config.bind_addr.ip(), app.port());
        match tourdesk::demo::seed(app.context(), config.admin_email.as_deref()).await? {
            Some(login) => {
                let password = login.password.as_deref().unwrap_or("(your ADMIN_PASSWORD)");
                println!("Demo data created.");
                println!("  customer site: {base}/");
                println!("  admin console: {base}/admin");
                println!("  email:         {}", login.email);
                println!("  password:      {password}");
            }
            None => {
                println!("--demo: the database already holds tours; left as it is.");
                println!("  customer site: {base}/");
                println!(
                    "  admin console: {base}/admin (log in with the admin printed when it was seeded,"
                );
                println!("  or set one: tourdesk user create --email EMAIL --name NAME --admin)");
            }
        }
    }
    tracing::info!(
        address = %format!("http://{}:{}", config.bind_addr.ip(), app.port()),
        database = %tourdesk_store_redacted(&config.database_url),
        "tourdesk is listening"
    );
    app.run_until_stopped(startup::shutdown_signal()).await
}

fn tourdesk_store_redacted(url: &str) -> String {
    tourdesk_store::redact_url(url)
}
