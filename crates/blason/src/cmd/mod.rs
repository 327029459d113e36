pub mod config;
pub mod dnssec;
pub mod mail;
pub mod reload;
pub mod serve;
pub mod zone;
