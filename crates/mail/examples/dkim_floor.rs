//! The crypto floor of DKIM, for `scripts/bench-milter.sh`: CPU µs for one
//! RSA-2048 and one Ed25519 signature and verification on ring, and for the
//! SHA-256 of a 4 KB message, the least a signer or verifier can spend.
//! `cargo run --release -p blason-mail --example dkim_floor [ROUNDS]`

use blason_mail::dkim::{generate, Algorithm};
use ring::digest::{digest, SHA256};
use ring::signature::{self, Ed25519KeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use std::time::Instant;

fn per(n: u32, f: impl FnMut()) -> f64 {
    let mut f = f;
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let data = vec![b'x'; 4096];
    let rng = ring::rand::SystemRandom::new();
    let g = generate(Algorithm::Rsa(2048)).unwrap();
    let der = blason_mail::der::pem_blocks(g.private_pem.as_bytes())
        .remove(0)
        .1;
    let rsa = RsaKeyPair::from_der(&der).unwrap();
    let mut sig = vec![0; rsa.public().modulus_len()];
    let rsa_sign = per(n, || {
        let h = digest(&SHA256, &data);
        rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, h.as_ref(), &mut sig)
            .unwrap();
    });
    let pk = UnparsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        rsa.public().as_ref().to_vec(),
    );
    let h = digest(&SHA256, &data);
    rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, h.as_ref(), &mut sig)
        .unwrap();
    let rsa_verify = per(n, || pk.verify(h.as_ref(), &sig).unwrap());
    let doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    let ed_sign = per(n, || {
        let h = digest(&SHA256, &data);
        let _ = ed.sign(h.as_ref());
    });
    let esig = ed.sign(h.as_ref());
    let epk = UnparsedPublicKey::new(&signature::ED25519, ed.public_key().as_ref().to_vec());
    let ed_verify = per(n, || epk.verify(h.as_ref(), esig.as_ref()).unwrap());
    let sha = per(n, || {
        let _ = digest(&SHA256, &data);
    });
    println!("rsa2048_sign_us {rsa_sign:.1}");
    println!("rsa2048_verify_us {rsa_verify:.1}");
    println!("ed25519_sign_us {ed_sign:.1}");
    println!("ed25519_verify_us {ed_verify:.1}");
    println!("sha256_4k_us {sha:.2}");
}
