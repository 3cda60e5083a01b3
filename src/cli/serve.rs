//! `epro serve` (and `epro` alone).

use std::{process::ExitCode, sync::Arc};

use epro::{
    clock::SystemClock,
    config::Settings,
    startup::{self, Server},
};

use super::Outcome;

pub async fn run(settings: Settings) -> Outcome {
    let server = Server::build(settings, Arc::new(SystemClock)).await?;
    if let Some(admin) = server.bootstrap_admin() {
        print_bootstrap(&admin.email, admin.one_time_password.as_deref());
    }
    let addr = server.address();
    tracing::info!(%addr, "epro listening; API docs at http://{addr}/api/docs");
    server
        .run_until(startup::shutdown_signal())
        .await
        .map_err(|e| anyhow::anyhow!("server error: {e}"))?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Printed once, on stdout (never into the logs).
fn print_bootstrap(email: &str, one_time_password: Option<&str>) {
    println!("================================================================");
    println!(" epro created the first admin account");
    println!("   email:    {email}");
    match one_time_password {
        Some(p) => {
            println!("   password: {p}");
            println!(" This one-time password is shown only now. Log in and change it");
            println!(" (PUT /api/v1/auth/password) before anything else.");
        }
        None => println!("   password: the one in EPRO_BOOTSTRAP_ADMIN_PASSWORD"),
    }
    println!("================================================================");
}
