//! The `snnc` binary: parse arguments, run the command, render any error as one line.
//!
//! Every failure exits with code 1, a bad command line included (clap's own convention would be
//! 2): scripts and the documented contract see one code for "snnc refused or failed".
//! `--help` and `--version` print to standard output and exit 0.

use clap::Parser;

fn main() {
    let cli = match snnc_compiler::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            // Printing can only fail if the stream is closed; the exit code still tells.
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    if let Err(e) = snnc_compiler::cli::run(cli, &mut lock) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
