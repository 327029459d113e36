"""Reference ("oracle") verdicts for SPF, DKIM, DMARC and ARC, from pinned libraries:
pyspf 2.0.14 (`spf`), dkimpy 1.1.8 (`dkim`), authheaders 0.16.3 (+ authres 1.2.0,
publicsuffix2, dnspython 2.9.2).

Every DNS query of all three libraries goes to the loopback server named by --dns and
nowhere else: a dnspython Resolver(configure=False) (so /etc/resolv.conf is never read)
is installed as dnspython's default resolver *before* the libraries are imported, and
pyspf's and dkimpy's lookup hooks are replaced by functions that use it. The public
suffix list is authheaders' bundled copy (publicsuffix2 is never asked to fetch).

usage:
  auth_oracle.py --dns 127.0.0.1:PORT [--ip IP --helo NAME --mail-from ADDR] FILE...
      one JSON line per FILE:
      {"file", "spf": {"result", "helo"} | null, "dkim": [{"domain", "selector",
       "result", "reason"}...], "dmarc": {"result", "policy", "from_domain"},
       "arc": {"result"}, "ar": "Authentication-Results: ..."}
      (a file that can't be processed: {"file", "error"}; a part that failed leaves
      its value null and adds "error")
  auth_oracle.py --dns 127.0.0.1:PORT --ip IP --helo NAME --mail-from ADDR --spf-only
      one JSON line {"result", "explanation"} from spf.check2(i, s, h)

DKIM result names (RFC 8601 section 2.7.1 / RFC 6376 section 3.9 and 6.1), one entry
per DKIM-Signature header field in header order, each verified on its own with
dkim.DKIM(msg).verify(idx=i, dnsfunc=...). dkimpy's verify() only says True/False
(it swallows KeyFormatError, DnsTimeoutError and binascii.Error from the key lookup and
returns False), so the oracle watches its own dnsfunc to tell the cases apart:
  pass       verify() returned True.
  fail       verify() returned False with a usable key (the b= signature did not
             verify), or raised ValidationError "body hash mismatch"
             (RFC 6376 6.1.3 PERMFAIL "body hash did not verify"; RFC 8601 calls a
             signature that failed verification "fail").
  permerror  - the tag list can't be parsed (MessageFormatError from
               verify_headerprep), or validate_signature_fields rejects it
               (ValidationError: missing v/a/b/bh/d/h/s, unknown a=, bad base64, i= not
               under d=, q= not dns/txt, t= in the future, x= expired, v!=1...):
               RFC 6376 6.1.1 PERMFAIL (signature syntax error / missing tag /
               signature expired). The brief asked for permerror here; note RFC 8601
               would also allow "neutral" for syntax errors.
             - no key record: the selector name is NXDOMAIN or has no TXT, or the name
               isn't a valid DNS name (RFC 6376 6.1.2: "MUST immediately return PERMFAIL
               (no key for signature)").
             - a key record that dkimpy's evaluate_pk rejects (KeyFormatError or
               binascii.Error: bad v=, unparsable or empty p= i.e. revoked key, unknown
               k=) or that verify_sig_process rejects (UnknownKeyTypeError, s= service
               type not "email"/"*", KeyFormatError "public key too small" < 1024 bits
               (raised only when the signature is otherwise valid), digest too large),
               invalid c= (MessageFormatError), and any other exception: RFC 6376 6.1.2
               PERMFAIL (key syntax error / inappropriate key).
  temperror  the key query timed out (dkimpy: DnsTimeoutError) or got SERVFAIL/REFUSED
             (dnspython NoNameservers; dkimpy itself would treat that as "no key", RFC
             6376 6.1.2 says TEMPFAIL "key unavailable"), or pynacl is missing for an
             ed25519 key (a local, transient condition).
"reason" is a short text, informational only.

DMARC and ARC come from authheaders.authenticate_message(msg, 'example.org', ...,
spf=<--ip given>, dkim=True, arc=True, dmarc=True); the A-R header it returns is parsed
with authres: dmarc=<result> with properties header.from and policy.dmarc, arc=<result>.
authheaders is called WITHOUT dnsfunc: its DMARC code treats a custom dnsfunc as the
test-suite string returner (it does '"' + answer + '"', which breaks on dkimpy's bytes,
collapses several TXT records into one, and uses it for the np= A/MX/AAAA existence test
as a TXT query); without dnsfunc everything goes through dns.resolver.resolve, i.e. the
pinned loopback resolver. One patch is applied: authheaders.check_arc refers to an
undefined CV_Fail when ARC verification raises (NameError); it is bound to dkim.CV_Fail so
that path yields arc=fail as intended.
"""
import argparse
import ipaddress
import json
import sys
import warnings

warnings.simplefilter("ignore")


def parse_dns_arg(text):
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError("--dns wants HOST:PORT")
    host = host.strip("[]")
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError("--dns must name a loopback address, got %s" % host)
    return host, int(port)


ap = argparse.ArgumentParser(description="SPF/DKIM/DMARC/ARC oracle (pyspf, dkimpy, authheaders)")
ap.add_argument("--dns", required=True, help="loopback DNS server HOST:PORT")
ap.add_argument("--ip")
ap.add_argument("--helo")
ap.add_argument("--mail-from", dest="mail_from")
ap.add_argument("--spf-only", action="store_true")
ap.add_argument("files", nargs="*")
ARGS = ap.parse_args()
try:
    DNS_HOST, DNS_PORT = parse_dns_arg(ARGS.dns)
except ValueError as e:
    ap.error(str(e))

# ---- pin dnspython to the loopback server, before any library can make a resolver ----
import dns.exception  # noqa: E402
import dns.name  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.resolver  # noqa: E402


def make_resolver():
    r = dns.resolver.Resolver(configure=False)  # never reads /etc/resolv.conf
    r.nameservers = [DNS_HOST]
    r.port = DNS_PORT
    r.nameserver_ports = {}
    # configure=False still derives a search domain from gethostname(); pyspf and dkimpy
    # query with search=True, so clear it or relative names could grow the host's domain.
    r.domain = dns.name.root
    r.search = []
    r.use_search_by_default = False
    r.cache = None
    r.timeout = 2.0
    r.lifetime = 5.0
    return r


RESOLVER = make_resolver()
dns.resolver.default_resolver = RESOLVER


def _reset_default_resolver():  # anything that "re-reads resolv.conf" gets ours again
    dns.resolver.default_resolver = make_resolver()


dns.resolver.reset_default_resolver = _reset_default_resolver

import authres  # noqa: E402
import authheaders  # noqa: E402
import dkim  # noqa: E402
import spf  # noqa: E402

# authheaders.check_arc's except-clauses name CV_Fail, which it never imports.
if not hasattr(authheaders, "CV_Fail"):
    authheaders.CV_Fail = dkim.CV_Fail


# ---- pyspf: same contract and output shape as spf.DNSLookup_dnspython ----
def spf_dns_lookup(name, qtype, tcpfallback=True, timeout=30):
    ret = []
    try:
        answers = RESOLVER.resolve(name, qtype, lifetime=timeout, search=False)
        for rdata in answers:
            if qtype == "A" or qtype == "AAAA":
                ret.append(((name, qtype), rdata.address))
            elif qtype == "MX":
                ret.append(((name, qtype), (rdata.preference, rdata.exchange)))
            elif qtype == "PTR":
                ret.append(((name, qtype), rdata.target.to_text(True)))
            elif qtype == "TXT" or qtype == "SPF":
                ret.append(((name, qtype), rdata.strings))
    except dns.resolver.NoAnswer:
        pass
    except dns.resolver.NXDOMAIN:
        pass
    except dns.exception.Timeout as x:
        raise spf.TempError("DNS " + str(x))
    except dns.resolver.NoNameservers as x:
        raise spf.TempError("DNS " + str(x))
    return ret


spf.DNSLookup = spf_dns_lookup


# ---- dkimpy: same contract as dkim.dnsplug.get_txt, plus a record of what happened ----
def dkim_dnsfunc(log=None):
    def get_txt(name, timeout=5):
        if log is not None:
            log["called"] = True
        try:
            qname = name.decode("utf-8") if isinstance(name, bytes) else name
        except UnicodeDecodeError:
            if log is not None:
                log["status"] = "badname"
            return None
        try:
            a = RESOLVER.resolve(qname, dns.rdatatype.TXT, raise_on_no_answer=False,
                                 lifetime=timeout, search=False)
            for r in a.response.answer:
                if r.rdtype == dns.rdatatype.TXT:
                    txt = b"".join(list(r.items)[0].strings)
                    if log is not None:
                        log["status"] = "ok"
                        log["txt"] = txt
                    return txt
            status = "nodata"
        except dns.resolver.NXDOMAIN:
            status = "nxdomain"
        except dns.resolver.NoNameservers:
            status = "servfail"
        except dns.exception.Timeout as e:
            if log is not None:
                log["status"] = "timeout"
            raise dkim.DnsTimeoutError("dns.exception.Timeout: {0}".format(e))
        except (dns.name.NameTooLong, dns.name.LabelTooLong, dns.name.EmptyLabel,
                dns.exception.SyntaxError):
            status = "badname"
        except dns.exception.DNSException as e:
            status = "error"
            if log is not None:
                log["error"] = "%s: %s" % (type(e).__name__, e)
        if log is not None:
            log["status"] = status
        return None

    return get_txt


DKIM_DNS = dkim_dnsfunc()


def dkim_signatures(msg):
    headers, _ = dkim.rfc822_parse(msg)
    return [v for k, v in headers if k.lower() == b"dkim-signature"]


def dkim_one(msg, idx, raw):
    entry = {"domain": None, "selector": None, "result": None, "reason": None}
    try:
        tags = dkim.util.parse_tag_value(raw)
        d, s = tags.get(b"d"), tags.get(b"s")
        entry["domain"] = d.decode("utf-8", "replace") if d is not None else None
        entry["selector"] = s.decode("utf-8", "replace") if s is not None else None
    except Exception:
        pass
    log = {"called": False, "status": None, "txt": None}
    try:
        ok = dkim.DKIM(msg).verify(idx=idx, dnsfunc=dkim_dnsfunc(log))
    except dkim.DKIMException as e:
        return dict(entry, **classify_dkim_exception(e, log))
    except Exception as e:  # dkimpy crashed on this signature
        return dict(entry, result="permerror", reason="%s: %s" % (type(e).__name__, e))
    if ok:
        return dict(entry, result="pass", reason=None)
    return dict(entry, **classify_dkim_false(raw, tags_name(raw), log))


def tags_name(raw):
    try:
        t = dkim.util.parse_tag_value(raw)
        return t[b"s"] + b"._domainkey." + t[b"d"] + b"."
    except Exception:
        return b"?"


def classify_dkim_false(raw, name, log):
    st = log.get("status")
    if st in ("timeout", "servfail", "error"):
        return {"result": "temperror", "reason": "key unavailable (%s)" % st}
    if st in ("nxdomain", "nodata", "badname") or not log.get("txt"):
        return {"result": "permerror", "reason": "no key for signature (%s)" % st}
    try:
        dkim.evaluate_pk(name, log["txt"])
    except Exception as e:  # KeyFormatError, binascii.Error, UnknownKeyTypeError...
        return {"result": "permerror", "reason": "key syntax error: %s" % e}
    return {"result": "fail", "reason": "signature did not verify"}


def classify_dkim_exception(e, log):
    msg = "%s: %s" % (type(e).__name__, e)
    if not log.get("called"):  # raised while parsing/validating the signature itself
        return {"result": "permerror", "reason": "signature syntax error: " + msg}
    if isinstance(e, dkim.ValidationError) and str(e).startswith("body hash mismatch"):
        return {"result": "fail", "reason": "body hash did not verify"}
    if isinstance(e, dkim.DnsTimeoutError):
        return {"result": "temperror", "reason": msg}
    if isinstance(e, dkim.NaClNotFoundError):
        return {"result": "temperror", "reason": msg}
    return {"result": "permerror", "reason": msg}


# ---- SPF ----
def spf_check(ip, mail_from, helo):
    res, exp = spf.check2(i=ip, s=mail_from or "", h=helo or "")
    return (res or "none").lower(), exp


# ---- authheaders / authres ----
def parse_ar(ar):
    out = {"dmarc": None, "arc": None}
    try:
        hdr = authres.all_features().parse(ar)
        for r in hdr.results:
            method = (r.method or "").lower()
            props = {}
            for p in r.properties or []:
                props["%s.%s" % (p.type, p.name)] = p.value
            if method == "dmarc" and out["dmarc"] is None:
                out["dmarc"] = {"result": r.result, "policy": props.get("policy.dmarc"),
                                "from_domain": props.get("header.from")}
            elif method == "arc" and out["arc"] is None:
                out["arc"] = {"result": r.result}
        return out
    except Exception:
        pass
    # authres could not parse what authheaders emitted (e.g. odd comment text): regex.
    import re

    m = re.search(r";\s*dmarc=([A-Za-z]+)([^;]*)", ar)
    if m:
        pol = re.search(r"policy\.dmarc=([^\s;()]+)", m.group(2))
        frm = re.search(r"header\.from=([^\s;()]+)", m.group(2))
        out["dmarc"] = {"result": m.group(1).lower(), "policy": pol and pol.group(1),
                        "from_domain": frm and frm.group(1)}
    m = re.search(r";\s*arc=([A-Za-z]+)", ar)
    if m:
        out["arc"] = {"result": m.group(1).lower()}
    return out


def process_file(path):
    out = {"file": path}
    try:
        with open(path, "rb") as f:
            msg = f.read()
    except OSError as e:
        return {"file": path, "error": "%s: %s" % (type(e).__name__, e)}
    errors = []

    out["spf"] = None
    if ARGS.ip:
        try:
            r, _ = spf_check(ARGS.ip, ARGS.mail_from, ARGS.helo)
            h = None
            if ARGS.helo:
                h, _ = spf_check(ARGS.ip, "postmaster@" + ARGS.helo, ARGS.helo)
            out["spf"] = {"result": r, "helo": h}
        except Exception as e:
            errors.append("spf: %s: %s" % (type(e).__name__, e))

    out["dkim"] = None
    try:
        sigs = dkim_signatures(msg)
        out["dkim"] = [dkim_one(msg, i, raw) for i, raw in enumerate(sigs)]
    except Exception as e:
        errors.append("dkim: %s: %s" % (type(e).__name__, e))

    out["dmarc"] = None
    out["arc"] = None
    out["ar"] = None
    try:
        ar = authheaders.authenticate_message(
            msg, "example.org", spf=bool(ARGS.ip), dkim=True, arc=True, dmarc=True,
            ip=ARGS.ip, mail_from=ARGS.mail_from or "", helo=ARGS.helo or "")
        out["ar"] = ar
        out.update(parse_ar(ar))
    except Exception as e:
        errors.append("authheaders: %s: %s" % (type(e).__name__, e))

    if errors:
        out["error"] = "; ".join(errors)
    return out


def main():
    if ARGS.spf_only:
        if not ARGS.ip:
            ap.error("--spf-only needs --ip")
        try:
            r, exp = spf_check(ARGS.ip, ARGS.mail_from, ARGS.helo)
            print(json.dumps({"result": r, "explanation": exp}), flush=True)
        except Exception as e:
            print(json.dumps({"result": None, "error": "%s: %s" % (type(e).__name__, e)}),
                  flush=True)
        return
    for path in ARGS.files:
        try:
            line = process_file(path)
        except Exception as e:
            line = {"file": path, "error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(line), flush=True)


main()
