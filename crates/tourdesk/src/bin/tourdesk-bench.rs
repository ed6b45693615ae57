//! `tourdesk-bench`: the benchmark as its own program (the code is the
//! `tourdesk-bench` crate), so the server binary links no HTTP client.
//! `tourdesk bench ARGS` runs this with the same arguments.

use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "tourdesk bench",
    bin_name = "tourdesk bench",
    about = "Measure throughput, latency, memory and correctness against the database's own ceiling"
)]
struct Cli {
    #[command(flatten)]
    args: tourdesk_bench::BenchArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tourdesk bench: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tourdesk_bench::run(cli.args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("tourdesk bench: error: a correctness check failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("tourdesk bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
