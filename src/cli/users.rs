//! `epro users create`.

use std::process::ExitCode;

use clap::Subcommand;
use epro::config::Settings;

use super::{Outcome, prepare};

#[derive(Subcommand)]
pub enum Command {
    /// Create a staff account and print a one-time password (changed at first login).
    Create {
        /// Login email.
        #[arg(long)]
        email: String,
        /// admin, data_manager, monitor or site_staff.
        #[arg(long)]
        role: String,
        /// Site code (repeat for several); required for monitor and site_staff.
        #[arg(long = "site")]
        sites: Vec<String>,
    },
}

pub async fn run(settings: Settings, command: Command) -> Outcome {
    match command {
        Command::Create { email, role, sites } => {
            let app = prepare(settings).await?;
            let (user, password) =
                epro::admin::users::create_from_cli(&app, &email, &role, sites).await?;
            println!("created {} account {}", user.role, user.id);
            println!("one-time password (shown once; must be changed at first login): {password}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
