"""checkdmarc's BIMI SVG checks on one file: prints one error per line, nothing when
checkdmarc accepts the logo. usage: svg_check.py FILE"""
import sys

from checkdmarc.bimi import check_svg_requirements, get_svg_metadata

data = open(sys.argv[1], "rb").read()
try:
    errors = check_svg_requirements(get_svg_metadata(data))
except Exception as e:  # not an SVG at all, by checkdmarc's reading
    errors = [f"{type(e).__name__}: {e}"]
for e in errors:
    print(e)
