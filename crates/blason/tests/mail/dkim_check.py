"""dkimpy as an oracle for keys from `blason dkim keygen`.

dkimpy's own resolver is the system's; this helper hands dkim.verify a dnsfunc that
asks only the blason server on 127.0.0.1:PORT, as `dkimverify` would otherwise do.

usage:
  dkim_check.py sign KEYFILE DOMAIN SELECTOR rsa|ed25519 < message > signed
  dkim_check.py verify PORT < signed          (exit 0 when the signature verifies)
"""
import base64
import re
import sys

import dkim
import dns.message
import dns.query


def dnsfunc_for(port):
    def get_txt(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        q = dns.message.make_query(name, "TXT")
        r = dns.query.udp(q, "127.0.0.1", port=port, timeout=timeout)
        for rrset in r.answer:
            for rd in rrset:
                if rd.rdtype == 16:
                    return b"".join(rd.strings)
        return None

    return get_txt


def ed25519_seed(pem):
    body = re.search(rb"-----BEGIN PRIVATE KEY-----(.*?)-----END", pem, re.S).group(1)
    der = base64.b64decode(b"".join(body.split()))
    # PKCS#8 v1 for Ed25519 (RFC 8410): the seed is the last 32 bytes.
    return base64.b64encode(der[-32:])


def main():
    mode = sys.argv[1]
    msg = sys.stdin.buffer.read()
    if mode == "sign":
        keyfile, domain, selector, alg = sys.argv[2:6]
        pem = open(keyfile, "rb").read()
        if alg == "ed25519":
            sig = dkim.sign(msg, selector.encode(), domain.encode(), ed25519_seed(pem),
                            signature_algorithm=b"ed25519-sha256",
                            include_headers=[b"from", b"to", b"subject"])
        else:
            sig = dkim.sign(msg, selector.encode(), domain.encode(), pem,
                            include_headers=[b"from", b"to", b"subject"])
        sys.stdout.buffer.write(sig + msg)
    elif mode == "verify":
        port = int(sys.argv[2])
        ok = dkim.verify(msg, dnsfunc=dnsfunc_for(port))
        print("PASS" if ok else "FAIL")
        sys.exit(0 if ok else 1)
    else:
        sys.exit("unknown mode")


main()
