//! One module per subcommand: its clap arguments and its `run`.

pub mod capture;
pub mod diff;
pub mod ls;
pub mod projects;
pub mod run;
pub mod server;
pub mod show;
pub mod tried;
