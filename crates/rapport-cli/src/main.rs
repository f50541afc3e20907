//! `rapport`: the Return-on-Relationship engine's command line.
//!
//! Data goes to stdout, logs and progress to stderr. Exit codes: 0 success, 1 user or
//! data error, 2 internal error.

mod args;
mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = match error.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => 1,
            };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => {
            // The reader of our output went away (e.g. `| head`): not an error.
            ExitCode::SUCCESS
        }
        Err(error) => {
            let internal = error.chain().any(|cause| {
                cause.downcast_ref::<rapport_engine::EngineError>().is_some_and(rapport_engine::EngineError::is_internal)
                    || cause.downcast_ref::<rapport_store::StoreError>().is_some_and(rapport_store::StoreError::is_internal)
            });
            eprintln!("error: {error:#}");
            if internal {
                eprintln!("This is a bug in Rapport; please report it with the command you ran.");
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Whether the error is our reader going away (`rapport summary … | head`). The csv
/// crate wraps the pipe error in an `io::Error` of kind `Other`, so the kind alone is
/// not enough.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause.to_string().contains("Broken pipe (os error 32)")
    })
}
