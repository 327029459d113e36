pub mod serve;
pub mod zone;
