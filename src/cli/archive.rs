//! `epro archive create|verify|public-key`.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Subcommand;
use epro::{config::Settings, keys::Keys};

use super::{Outcome, prepare};

#[derive(Subcommand)]
pub enum Command {
    /// Write the investigator archive of a site: one signed file.
    Create {
        /// Site code whose archive to write.
        #[arg(long)]
        site: String,
        /// Output file (default: epro-archive-<site>-<UTC time>.tar in the current folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check an archive (or an installation report of `epro validate`) offline: the manifest's
    /// Ed25519 signature, every file's sha256, nothing added. Names the first file that does not
    /// match.
    Verify {
        file: PathBuf,
        /// The signer's public key (hex), e.g. from `epro archive public-key`; without it the key
        /// in the manifest is used and printed.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print this deployment's archive public key (hex), for sites to check archives with.
    PublicKey,
}

pub async fn run(settings: Settings, command: Command) -> Outcome {
    match command {
        Command::Create { site, out } => {
            let app = prepare(settings).await?;
            let bytes = epro::exports::archive::build(app.clone(), &site).await?;
            let out = out.unwrap_or_else(|| {
                PathBuf::from(format!(
                    "epro-archive-{site}-{}.tar",
                    app.clock.now().format("%Y%m%dT%H%M%SZ")
                ))
            });
            std::fs::write(&out, &bytes).with_context(|| out.display().to_string())?;
            println!(
                "wrote {} ({} bytes), signed by {}",
                out.display(),
                bytes.len(),
                epro::exports::archive::public_key_hex(&app)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { file, public_key } => {
            let bytes = std::fs::read(&file).with_context(|| file.display().to_string())?;
            match epro::exports::archive::verify(&bytes, public_key.as_deref()) {
                Ok(v) => {
                    let what = if v.manifest.format == epro::exports::archive::REPORT_FORMAT {
                        format!("installation report of {}", v.manifest.study)
                    } else {
                        format!("site {} of {}", v.manifest.site, v.manifest.study)
                    };
                    println!(
                        "OK: {} — {what}, made {}, {} files, signed by {}",
                        file.display(),
                        v.manifest.created_at.to_rfc3339(),
                        v.manifest.files.len(),
                        v.manifest.public_key
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("FAILED: {}: {e}", file.display());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::PublicKey => {
            let keys = Keys::resolve(&settings)?;
            let key = ed25519_dalek::SigningKey::from_bytes(keys.archive.bytes());
            println!("{}", hex::encode(key.verifying_key().as_bytes()));
            Ok(ExitCode::SUCCESS)
        }
    }
}
