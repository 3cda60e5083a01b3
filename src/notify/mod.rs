//! Outgoing email: the transport (`mail`: SMTP or .eml files) and the content (`templates`:
//! reminder and digest messages per language).

pub mod mail;
pub(crate) mod templates;
