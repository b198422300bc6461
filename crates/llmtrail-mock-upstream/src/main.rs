//! `llmtrail-mock-upstream`: the mock OpenAI and Anthropic provider as a process, for
//! benchmarks and manual testing.
//!
//! It prints `listening on ADDR` on stdout once it accepts connections, then serves until it
//! is killed. See the library docs for the routes and the behaviour of each model name.

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use llmtrail_mock_upstream::{MockUpstream, Options};

// Every request allocates a few dozen small JSON nodes; mimalloc serves them faster than the
// system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A deterministic mock of the OpenAI and Anthropic HTTP APIs.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: SocketAddr,
    /// Keeps no copy of the requests, so that memory stays flat under load.
    #[arg(long)]
    no_record: bool,
    /// Worker threads; 1 runs a single-threaded runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut options = Options::default();
    options.record = !args.no_record;
    options.threads = args.threads;
    let mock = MockUpstream::start_with(args.listen, options)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = writeln!(stdout, "listening on {}", mock.addr()).and_then(|()| stdout.flush())
    {
        // Whoever started us stopped reading; keep serving all the same.
        if err.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(err).context("cannot write to stdout");
        }
    }
    drop(stdout);
    // The server runs on the mock's own thread; this one only keeps the process alive.
    loop {
        std::thread::park();
    }
}
