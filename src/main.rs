//! The `simboard` binary: parse the command line, call the library, turn the
//! outcome into an exit code. Fatal errors are printed here and nowhere else.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use simboard::exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let exit = match cli.command {
        Command::Validate(args) => {
            let quiet = args.manifest.quiet;
            match args.into_config() {
                Ok(config) => report(simboard::validate::validate(&config), quiet),
                Err(err) => fatal(&err.to_string()),
            }
        }
        Command::Run(args) => {
            let quiet = args.manifest.quiet;
            match args.into_config() {
                Ok(config) => report(simboard::run::run(&config), quiet),
                Err(err) => fatal(&err.to_string()),
            }
        }
        Command::Emulator(args) => match args.into_config() {
            Ok(config) => match simboard::emulator::serve(&config) {
                Ok(()) => Exit::Success,
                Err(err) => fatal(&format!("{err:#}")),
            },
            Err(err) => fatal(&err.to_string()),
        },
    };
    exit.into()
}

fn report(result: Result<simboard::summary::Summary, simboard::exit::Fatal>, quiet: bool) -> Exit {
    match result {
        Ok(summary) => {
            if !quiet {
                // A closed stderr (`2>&1 | head`) must not turn a finished
                // run into a crash: what cannot be printed is dropped.
                let _ = write!(std::io::stderr(), "{summary}");
            }
            summary.exit()
        }
        Err(err) => fatal(&err.to_string()),
    }
}

fn fatal(message: &str) -> Exit {
    let _ = writeln!(std::io::stderr(), "simboard: error: {message}");
    Exit::Fatal
}
