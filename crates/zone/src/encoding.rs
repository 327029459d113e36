//! Base16, Base32hex and Base64 codecs as zone files use them.
//!
//! Small enough to own: the zone reader needs exact control over whitespace between
//! chunks and over padding errors, and printing must match BIND's chunking.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B32HEX: &[u8; 32] = b"0123456789ABCDEFGHIJKLMNOPQRSTUV";

fn b64_val(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes Base64 (RFC 4648 §4), requiring correct padding.
pub fn base64_decode(text: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    if !text.len().is_multiple_of(4) {
        return Err("Base64 length is not a multiple of 4");
    }
    for (ci, chunk) in text.chunks(4).enumerate() {
        let last = ci == text.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return Err("misplaced Base64 padding");
        }
        let mut acc = 0u32;
        for &c in &chunk[..4 - pad] {
            acc = (acc << 6) | b64_val(c).ok_or("invalid Base64 character")?;
        }
        acc <<= 6 * pad as u32;
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Ok(())
}

/// Encodes Base64 with padding.
pub fn base64_encode(data: &[u8], out: &mut String) {
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let acc = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((acc >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

/// Decodes hexadecimal digits (either case).
pub fn hex_decode(text: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    if !text.len().is_multiple_of(2) {
        return Err("odd number of hexadecimal digits");
    }
    for pair in text.chunks(2) {
        let h = (pair[0] as char)
            .to_digit(16)
            .ok_or("invalid hexadecimal digit")?;
        let l = (pair[1] as char)
            .to_digit(16)
            .ok_or("invalid hexadecimal digit")?;
        out.push((h * 16 + l) as u8);
    }
    Ok(())
}

/// Encodes as upper-case hexadecimal, as BIND prints.
pub fn hex_encode(data: &[u8], out: &mut String) {
    const H: &[u8; 16] = b"0123456789ABCDEF";
    for &b in data {
        out.push(H[(b >> 4) as usize] as char);
        out.push(H[(b & 15) as usize] as char);
    }
}

/// Decodes Base32hex (RFC 4648 §7) without padding, either case.
pub fn base32hex_decode(text: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &c in text {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'v' => c - b'a' + 10,
            b'A'..=b'V' => c - b'A' + 10,
            _ => return Err("invalid Base32hex character"),
        };
        acc = (acc << 5) | v as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits >= 5 || acc & ((1 << bits) - 1) != 0 {
        return Err("Base32hex text has trailing bits");
    }
    Ok(())
}

/// Encodes Base32hex without padding, upper case.
pub fn base32hex_encode(data: &[u8], out: &mut String) {
    base32hex_each(data, |c| out.push(c as char));
}

/// [`base32hex_encode`] into `out`, without allocating (an NSEC3 owner label built
/// while answering); returns the length, or None if `out` is too short.
pub fn base32hex_encode_into(data: &[u8], out: &mut [u8]) -> Option<usize> {
    let n = (data.len() * 8).div_ceil(5);
    let out = out.get_mut(..n)?;
    let mut k = 0;
    base32hex_each(data, |c| {
        out[k] = c;
        k += 1;
    });
    Some(n)
}

fn base32hex_each(data: &[u8], mut put: impl FnMut(u8)) {
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &b in data {
        acc = (acc << 8) | b as u64;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            put(B32HEX[((acc >> bits) & 31) as usize]);
        }
    }
    if bits > 0 {
        put(B32HEX[((acc << (5 - bits)) & 31) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32hex_into_a_slice_is_the_same_text() {
        for data in [&b""[..], b"\x01", b"hello", &[0xff; 20]] {
            let mut s = String::new();
            base32hex_encode(data, &mut s);
            let mut buf = [0u8; 40];
            let n = base32hex_encode_into(data, &mut buf).unwrap();
            assert_eq!(&buf[..n], s.as_bytes());
        }
        assert_eq!(base32hex_encode_into(&[0; 20], &mut [0u8; 31]), None);
    }

    #[test]
    fn round_trips() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            let mut s = String::new();
            base64_encode(data, &mut s);
            let mut back = Vec::new();
            base64_decode(s.as_bytes(), &mut back).unwrap();
            assert_eq!(back, data);
            let mut s = String::new();
            base32hex_encode(data, &mut s);
            let mut back = Vec::new();
            base32hex_decode(s.as_bytes(), &mut back).unwrap();
            assert_eq!(back, data, "{s}");
        }
        let mut s = String::new();
        base32hex_encode(b"foobar", &mut s);
        assert_eq!(s, "CPNMUOJ1E8");
        assert!(base64_decode(b"Zm9=v", &mut Vec::new()).is_err());
        assert!(base64_decode(b"Zg==Zg==", &mut Vec::new()).is_err());
    }
}
