pub mod config;
pub mod reload;
pub mod serve;
pub mod zone;
