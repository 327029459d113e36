//! The journal reader: any bytes give frames or an error, never a panic; every frame
//! body decodes to a changeset or a zone, or an error, and what decodes encodes back
//! to the same thing.
#![no_main]

use blason_zone::update::codec;
use libfuzzer_sys::fuzz_target;

fn bodies(data: &[u8]) {
    if let Ok(cs) = codec::decode_changeset(data) {
        let mut out = Vec::new();
        codec::encode_changeset(&cs, &mut out);
        assert_eq!(codec::decode_changeset(&out).as_ref(), Ok(&cs));
    }
    if let Ok(z) = codec::decode_zone(data) {
        let mut out = Vec::new();
        codec::encode_zone(&z, &mut out);
        let again = codec::decode_zone(&out).expect("a zone written reads back");
        assert_eq!(again.nodes().len(), z.nodes().len());
        let mut out2 = Vec::new();
        codec::encode_zone(&again, &mut out2);
        assert_eq!(out, out2);
    }
}

fuzz_target!(|data: &[u8]| {
    bodies(data);
    let mut framed = b"BLASONJ1".to_vec();
    framed.extend_from_slice(data);
    for input in [data, &framed[..]] {
        if let Ok(p) = blason_server::journal::parse(input) {
            assert!(p.good_len <= input.len());
            for f in &p.frames {
                bodies(&input[f.at..f.at + f.len]);
            }
        }
    }
});
