//! Administration: staff accounts and sites.

pub(crate) mod sites;
pub mod users;
