//! `rapport`: the Return-on-Relationship engine's command line.
//!
//! Data goes to stdout, logs and progress to stderr. Exit codes: 0 success, 1 user or
//! data error, 2 internal error.

mod args;
mod commands;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: it reuses freed memory across threads
/// where glibc unmapped and faulted in again the multi-megabyte buffers of a scan, and
/// freeing a million summary rows takes half the time (measured on the ten-million-row
/// summary: 1.06 -> 0.9 s). Built without transparent huge pages (`no_thp`): on the
/// development VM, faulting in 2 MiB pages cost 0.8-1.1 s of system time per run
/// against 0.3 s with 4 KiB pages, for the same memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
