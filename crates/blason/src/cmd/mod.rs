pub mod config;
pub mod dnssec;
pub mod exit;
pub mod mail;
pub mod reload;
pub mod roll;
pub mod serve;
pub mod zone;
