"""Builds the message corpus for tests/mail_verify.rs with dkimpy 1.1.8 (the signer
of the cases blason's own signer does not make: simple canonicalization, l=, x=, ARC).

usage: verify_corpus.py DIR   (DIR holds r1.private, r9.private from blason dkim keygen,
       and blason-signed messages NAME.eml; writes more NAME.eml files)
"""
import sys, time, dkim

d = sys.argv[1]
r1 = open(f"{d}/r1.private", "rb").read()
r9 = open(f"{d}/r9.private", "rb").read()

def msg(frm, subject, body="Hello.\r\n"):
    return (f"From: Alice <{frm}>\r\nTo: bob@example.org\r\nSubject: {subject}\r\n"
            f"Date: Fri, 04 Dec 2026 12:00:00 +0000\r\nMessage-ID: <{subject}@x>\r\n\r\n{body}").encode()

def sign(m, domain=b"example.com", sel=b"r1", key=None, canon=(b"relaxed", b"relaxed"), length=False):
    return dkim.sign(m, sel, domain, key or r1, canonicalize=canon, length=length,
                     include_headers=[b"from", b"to", b"subject", b"date", b"message-id"]) + m

def write(name, data):
    open(f"{d}/{name}.eml", "wb").write(data)

write("simple-canon", sign(msg("alice@example.com", "simple"), canon=(b"simple", b"simple")))
write("wrong-key", sign(msg("alice@example.com", "wrongkey"), sel=b"r9", key=r9))
write("missing-key", sign(msg("alice@example.com", "nokey"), sel=b"nokey"))
write("revoked-key", sign(msg("alice@example.com", "revoked"), sel=b"rk"))
# l= signs a prefix: text appended later still verifies; a changed prefix does not.
m = sign(msg("alice@example.com", "length"), length=True)
write("length-appended", m + b"Appended after signing.\r\n")
write("length-changed", m.replace(b"Hello.", b"Jello."))

# x= in the past: dkimpy writes no x=, so add one to the fields it signs.
orig = dkim.DKIM.gen_header
def with_x(self, fields, *a, **k):
    fields = list(fields)
    fields.insert(len(fields) - 2, (b"x", str(int(time.time()) - 3 * 86400).encode()))
    return orig(self, fields, *a, **k)
dkim.DKIM.gen_header = with_x
write("expired", sign(msg("alice@example.com", "expired")))
dkim.DKIM.gen_header = orig

# Strict alignment: d=mail.example.net for From example.net.
write("strict-unaligned", sign(msg("alice@example.net", "strict"), domain=b"mail.example.net"))
write("strict-aligned", sign(msg("alice@example.net", "strictok"), domain=b"example.net"))

# ARC: signed by example.com, then forwarded and sealed by example.net.
m = sign(msg("alice@example.com", "arc"))
m = b"Authentication-Results: example.net; dkim=pass header.d=example.com\r\n" + m
hdrs = dkim.arc_sign(m, b"r1", b"example.net", r1, b"example.net")
sealed = b"".join(hdrs) + m
write("arc-sealed", sealed)
write("arc-broken", sealed.replace(b"Hello.", b"Hallo."))
