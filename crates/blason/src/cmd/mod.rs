pub mod config;
pub mod mail;
pub mod reload;
pub mod serve;
pub mod zone;
