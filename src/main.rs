//! The `quill` command: argument parsing and dispatch. Each subcommand lives in `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::logging::init(
        args.verbose,
        args.log_file.as_deref(),
        args.command.default_log(),
    );
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`quill fill x.py | head`) is not an error worth reporting.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
