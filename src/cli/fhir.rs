//! `epro fhir clients add|list|disable|enable`: SMART Backend Services clients of /fhir/r4
//! (docs/fhir.md), for the operator on the machine (audited as the system).

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Subcommand;
use epro::{config::Settings, fhir::smart};
use uuid::Uuid;

use super::{Outcome, prepare};

#[derive(Subcommand)]
pub enum Command {
    /// FHIR clients (SMART Backend Services).
    Clients {
        #[command(subcommand)]
        command: ClientCommand,
    },
}

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its id (the `iss` and `sub` of its assertions).
    Add {
        /// Who the client is, e.g. "UZG integration engine".
        #[arg(long)]
        name: String,
        /// A file holding the client's public JWKS ({"keys": [...]}, RSA or EC P-384).
        #[arg(long)]
        jwks: PathBuf,
        /// A site whose data the client may read (repeat for several).
        #[arg(long = "site", required = true)]
        sites: Vec<String>,
        /// A SMART v2 system scope, e.g. system/QuestionnaireResponse.rs (repeat for several).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// List the registered clients (id, name, sites, scopes, state).
    List,
    /// Disable a client: no new tokens, and its tokens stop working at once.
    Disable { id: Uuid },
    /// Enable a disabled client again.
    Enable { id: Uuid },
}

pub async fn run(settings: Settings, command: Command) -> Outcome {
    let Command::Clients { command } = command;
    let app = prepare(settings).await?;
    match command {
        ClientCommand::Add {
            name,
            jwks,
            sites,
            scopes,
        } => {
            let text = std::fs::read_to_string(&jwks)
                .with_context(|| format!("cannot read {}", jwks.display()))?;
            let jwks: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", jwks.display()))?;
            let row = smart::register_as(
                &app,
                None,
                smart::NewClient {
                    name,
                    jwks,
                    sites,
                    scopes,
                },
            )
            .await?;
            println!("{}", row.id);
        }
        ClientCommand::List => {
            for c in epro::store::fhir::clients(&app.db).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    c.id,
                    c.name,
                    c.sites.join(","),
                    c.scopes.join(" "),
                    if c.disabled { "disabled" } else { "active" }
                );
            }
        }
        ClientCommand::Disable { id } => {
            smart::set_disabled(&app, None, id, true).await?;
            println!("disabled {id}");
        }
        ClientCommand::Enable { id } => {
            smart::set_disabled(&app, None, id, false).await?;
            println!("enabled {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
