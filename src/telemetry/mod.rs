//! Tracing setup: human-readable lines by default, JSON lines with EPRO_LOG_FORMAT=json.
//! Log lines never carry personal data (emails, names, phones) or secrets; callers log ids.

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// Install the global subscriber. Safe to call more than once (later calls are ignored), which
/// the test suite relies on.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

pub mod metrics;
