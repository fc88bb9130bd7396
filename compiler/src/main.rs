//! The `snnc` binary: parse arguments, run the command, render any error as one line.

use clap::Parser;

fn main() {
    let cli = snnc_compiler::cli::Cli::parse();
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    if let Err(e) = snnc_compiler::cli::run(cli, &mut lock) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
