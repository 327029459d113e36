//! BIND's own test zones (`tests/zones/bind`, from upstream BIND's
//! `bin/tests/system`): `blason zone check` accepts exactly the zones upstream's
//! tests accept and refuses the rest (where a test sets no expectation, this
//! machine's `named-checkzone` decides), and `blason zone print` equals
//! `named-checkzone -D` on every zone BIND loads. The differences that remain are
//! listed in the manifest with their reason (and in the README); each must still
//! differ, so a fixed one is struck from the list.

use std::path::Path;
use std::process::Command;

struct Row {
    file: String,
    cwd: String,
    origin: String,
    expect: String,
    ck_flags: Vec<String>,
    known: String,
    print_known: String,
}

fn manifest(dir: &Path) -> Vec<Row> {
    std::fs::read_to_string(dir.join("manifest.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                file: f[0].into(),
                cwd: f[1].into(),
                origin: f[2].into(),
                expect: f[3].into(),
                ck_flags: f[5].split_whitespace().map(str::to_string).collect(),
                known: f.get(6).unwrap_or(&"").to_string(),
                print_known: f.get(7).unwrap_or(&"").to_string(),
            }
        })
        .collect()
}

/// A printed zone as a sorted list of records: comments, blank lines and status
/// lines out, whitespace collapsed, owners lowercased.
fn norm(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.contains('"') {
                l.to_string()
            } else {
                l.split(" ;").next().unwrap_or(l).to_string()
            }
        })
        .filter(|l| {
            let t = l.trim();
            !(t.is_empty()
                || t.starts_with(';')
                || t == "OK"
                || (t.starts_with("zone ") && t.contains("loaded serial")))
        })
        .map(|l| {
            let mut w: Vec<String> = l.split_whitespace().map(str::to_string).collect();
            if let Some(o) = w.first_mut() {
                *o = o.to_lowercase();
            }
            w.join(" ")
        })
        .collect();
    out.sort();
    out
}

#[test]
fn bind_test_zones_read_as_bind_reads_them() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/zones/bind");
    let rows = manifest(&dir);
    assert!(rows.len() > 350, "{} rows", rows.len());
    let checkzone = ["/usr/bin/named-checkzone", "/usr/sbin/named-checkzone"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("named-checkzone is needed (scripts/test.sh installs bind9-utils)");
    let mut problems = Vec::new();
    let (mut agree, mut known, mut printed) = (0, 0, 0);
    for r in &rows {
        let cwd = dir.join(&r.cwd);
        let file = Path::new(&r.file)
            .strip_prefix(&r.cwd)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| dir.join(&r.file));
        let out = Command::new(env!("CARGO_BIN_EXE_blason"))
            .args(["zone", "check", &r.origin])
            .arg(&file)
            .current_dir(&cwd)
            .output()
            .unwrap();
        let verdict = if out.status.code() == Some(0) {
            "accept"
        } else {
            "reject"
        };
        let said = || {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .chain(String::from_utf8_lossy(&out.stderr).lines())
                .filter(|l| l.contains("error"))
                .take(3)
                .collect::<Vec<_>>()
                .join(" / ")
        };
        match (verdict == r.expect, r.known.is_empty()) {
            (true, true) => agree += 1,
            (false, false) => known += 1,
            (false, true) => problems.push(format!(
                "{}: blason {verdict}s, expected {} ({})",
                r.file,
                r.expect,
                said()
            )),
            (true, false) => problems.push(format!(
                "{}: now agrees ({verdict}): strike \"{}\" from manifest.tsv and the README",
                r.file, r.known
            )),
        }
        // The zone as printed, where both load it.
        if verdict != "accept" {
            continue;
        }
        let ck = Command::new(checkzone)
            .args(&r.ck_flags)
            .args(["-D", "-q", &r.origin])
            .arg(&file)
            .current_dir(&cwd)
            .output()
            .unwrap();
        if !ck.status.success() {
            continue;
        }
        let ours = Command::new(env!("CARGO_BIN_EXE_blason"))
            .args(["zone", "print", &r.origin])
            .arg(&file)
            .current_dir(&cwd)
            .output()
            .unwrap();
        let (a, b) = (
            norm(&String::from_utf8_lossy(&ck.stdout)),
            norm(&String::from_utf8_lossy(&ours.stdout)),
        );
        printed += 1;
        match (a == b, r.print_known.is_empty()) {
            (true, true) | (false, false) => {}
            (false, true) => {
                let only_bind: Vec<&String> = a.iter().filter(|l| !b.contains(l)).take(3).collect();
                let only_ours: Vec<&String> = b.iter().filter(|l| !a.contains(l)).take(3).collect();
                problems.push(format!(
                    "{}: printed differently: BIND {only_bind:?}, blason {only_ours:?}",
                    r.file
                ));
            }
            (true, false) => problems.push(format!(
                "{}: now printed alike: strike \"{}\" from manifest.tsv and the README",
                r.file, r.print_known
            )),
        }
    }
    eprintln!(
        "{} zones: {agree} verdicts as expected, {known} known differences; {printed} printed by both",
        rows.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
