//! Outgoing email: the transport (`mail`: SMTP or .eml files) and the content (`templates`:
//! reminder and digest messages per language).

pub mod mail;
pub mod sms;
pub(crate) mod templates;
