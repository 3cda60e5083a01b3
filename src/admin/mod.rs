//! Administration: staff accounts and sites.

pub mod sites;
pub mod users;
