//! `epro fhir clients add|list|disable|enable`: SMART Backend Services clients of /fhir/r4, and
//! `epro fhir subscriptions add|list|disable|enable|replay`: their rest-hook Subscriptions
//! (docs/fhir.md), for the operator on the machine (audited as the system).

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Subcommand;
use epro::{
    config::Settings,
    fhir::{smart, subscriptions},
};
use uuid::Uuid;

use super::{Outcome, prepare};

#[derive(Subcommand)]
pub enum Command {
    /// FHIR clients (SMART Backend Services).
    Clients {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// rest-hook Subscriptions of FHIR clients (notifications of completed or amended forms).
    Subscriptions {
        #[command(subcommand)]
        command: SubscriptionCommand,
    },
}

#[derive(Subcommand)]
pub enum SubscriptionCommand {
    /// Create a Subscription for a client; prints its id, then its signing secret (shown once).
    Add {
        /// The FHIR client to notify.
        #[arg(long)]
        client: Uuid,
        /// e.g. "QuestionnaireResponse?status=completed" (docs/fhir.md lists what is accepted).
        #[arg(long)]
        criteria: String,
        /// Where notifications are POSTed (https; http only to a loopback address).
        #[arg(long)]
        endpoint: String,
        /// id-only (default) or full-resource.
        #[arg(long, default_value = "id-only")]
        payload: String,
    },
    /// List the Subscriptions (id, client, status, criteria, endpoint, error).
    List,
    /// Switch a Subscription off.
    Disable { id: Uuid },
    /// Set a Subscription active again (after off or error).
    Enable { id: Uuid },
    /// Deliver again the events since an instant (RFC 3339, e.g. 2026-12-07T00:00:00Z), with
    /// the same event ids.
    Replay {
        id: Uuid,
        #[arg(long)]
        since: chrono::DateTime<chrono::Utc>,
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
    let command = match command {
        Command::Clients { command } => command,
        Command::Subscriptions { command } => return run_subscriptions(settings, command).await,
    };
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

async fn run_subscriptions(settings: Settings, command: SubscriptionCommand) -> Outcome {
    let app = prepare(settings).await?;
    match command {
        SubscriptionCommand::Add {
            client,
            criteria,
            endpoint,
            payload,
        } => {
            let created = subscriptions::create(
                &app,
                None,
                client,
                subscriptions::NewSubscription {
                    criteria,
                    endpoint,
                    payload: Some(payload),
                },
            )
            .await?;
            println!("{}", created.row.id);
            println!("{}", created.secret);
        }
        SubscriptionCommand::List => {
            for s in subscriptions::list(&app, None).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    s.id,
                    s.client_id,
                    s.status,
                    s.criteria,
                    s.endpoint,
                    s.error.unwrap_or_default()
                );
            }
        }
        SubscriptionCommand::Disable { id } => {
            subscriptions::set_active(&app, None, id, false).await?;
            println!("off {id}");
        }
        SubscriptionCommand::Enable { id } => {
            subscriptions::set_active(&app, None, id, true).await?;
            println!("active {id}");
        }
        SubscriptionCommand::Replay { id, since } => {
            let n = subscriptions::replay(&app, None, id, since).await?;
            println!("{n} events queued again");
        }
    }
    Ok(ExitCode::SUCCESS)
}
