//! `blason dyndns hash`: the password hash a `[[dyndns.user]]` table takes.

use crate::cmd::exit::{Exit, Failed};
use clap::{Args, Subcommand};
use std::io::BufRead;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum DynDnsCmd {
    /// Read a password on standard input (one line) and print the hash to put in
    /// the config's `[[dyndns.user]]` table as `password`. The password itself is
    /// never stored.
    ///
    /// Example:
    ///   echo 'the router password' | blason dyndns hash
    ///   [[dyndns.user]]
    ///   name = "home"
    ///   password = "$pbkdf2-sha256$100000$..."
    ///   hosts = ["home.example.com"]
    Hash(HashArgs),
}

#[derive(Args)]
pub struct HashArgs {}

pub fn run(c: DynDnsCmd) -> ExitCode {
    let DynDnsCmd::Hash(_) = c;
    let r = (|| -> Result<String, Failed> {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        let password = line.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            return Err("give the password on standard input".to_string().into());
        }
        Ok(blason_server::dyndns::hash_password(password)?)
    })();
    match r {
        Ok(h) => {
            println!("{h}");
            Exit::Ok.into()
        }
        Err(e) => e.report("blason dyndns hash"),
    }
}
