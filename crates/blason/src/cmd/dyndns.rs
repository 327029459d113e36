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
    /// With --user, prints the whole `[[dyndns.user]]` table and ready-to-paste
    /// settings for ddclient and inadyn.
    ///
    /// Examples:
    ///   echo 'the router password' | blason dyndns hash
    ///   echo 'the router password' | blason dyndns hash --user home \
    ///       --host home.example.com --server 192.0.2.1:8245
    Hash(HashArgs),
}

#[derive(Args)]
pub struct HashArgs {
    /// The user's name (prints the config table and client settings)
    #[arg(long)]
    user: Option<String>,
    /// A host the user may update (repeat for more)
    #[arg(long = "host", value_name = "HOST")]
    hosts: Vec<String>,
    /// The DynDNS2 service's address as clients reach it, ADDR:PORT
    #[arg(long, default_value = "192.0.2.1:8245")]
    server: String,
}

pub fn run(c: DynDnsCmd) -> ExitCode {
    let DynDnsCmd::Hash(a) = c;
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
        let hash = blason_server::dyndns::hash_password(password)?;
        let Some(user) = &a.user else {
            return Ok(hash);
        };
        let hosts = if a.hosts.is_empty() {
            vec!["home.example.com".to_string()]
        } else {
            a.hosts.clone()
        };
        let quoted: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
        let (first, srv) = (&hosts[0], &a.server);
        Ok(format!(
            r#"# blason (blason.toml), under [dyndns]
[[dyndns.user]]
name = "{user}"
password = "{hash}"
hosts = [{hosts}]

# ddclient (ddclient.conf, mode 600); add ssl=yes on a line of its own for HTTPS
protocol=dyndns2, server={srv}, login={user}, password={password}
{joined}

# inadyn (inadyn.conf); ssl = true for HTTPS
custom blason {{
    ssl         = false
    username    = {user}
    password    = "{password}"
    ddns-server = "{srv}"
    ddns-path   = "/nic/update?hostname=%h&myip=%i"
    hostname    = {first}
}}
"#,
            hosts = quoted.join(", "),
            joined = hosts.join(","),
        ))
    })();
    match r {
        Ok(h) => {
            println!("{h}");
            Exit::Ok.into()
        }
        Err(e) => e.report("blason dyndns hash"),
    }
}
