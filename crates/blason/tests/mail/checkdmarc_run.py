"""Runs checkdmarc's SPF and DMARC checks against the blason server on 127.0.0.1:PORT
and prints one JSON object per domain: {"domain", "spf": {error, warnings},
"dmarc": {error, warnings}}.

checkdmarc takes a dnspython Resolver; this one knows only the loopback server, so no
query leaves the machine.

usage: checkdmarc_run.py PORT DOMAIN...
"""
import json
import sys

import dns.resolver
from checkdmarc.dmarc import check_dmarc
from checkdmarc.spf import check_spf


def main():
    port = int(sys.argv[1])
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = ["127.0.0.1"]
    r.port = port
    r.cache = None
    for domain in sys.argv[2:]:
        out = {"domain": domain}
        for name, fn in (("spf", check_spf), ("dmarc", check_dmarc)):
            try:
                res = fn(domain, resolver=r, timeout=2.0)
                out[name] = {
                    "error": res.get("error"),
                    "warnings": [str(w) for w in res.get("warnings", [])],
                }
            except Exception as e:  # a crash is a finding for the test to show
                out[name] = {"error": f"checkdmarc raised {type(e).__name__}: {e}", "warnings": []}
        print(json.dumps(out))


main()
