pub mod config;
pub mod dnssec;
pub mod dyndns;
pub mod exit;
pub mod import;
pub mod mail;
pub mod milter;
pub mod opendkim;
pub mod reload;
pub mod roll;
pub mod serve;
pub mod tsig;
pub mod zone;

/// This host's name, for `Authentication-Results` (the kernel's, else localhost).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
