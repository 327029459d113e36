#!/usr/bin/env bash
# Builds the Debian package: the binary, the systemd unit, a default config, man
# pages made from the CLI's own definitions, and the maintainer scripts.
#
#   bash scripts/package-deb.sh                     # release build, then dist/blason_VERSION_ARCH.deb
#   bash scripts/package-deb.sh --binary PATH       # package a binary already built
#   bash scripts/package-deb.sh --out DIR
#
# Install with `apt install ./dist/blason_*.deb`: it adds the system user blason,
# enables and starts blason.service (the bundled example zone on 127.0.0.1:5353
# until /etc/blason/blason.toml names zones).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=""
out="dist"
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) bin=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "package-deb.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$bin" ]; then
    cargo build --release -p blason
    bin=target/release/blason
fi

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
when=$(git log -1 --format=%ct 2>/dev/null || date +%s)
root=$(mktemp -d)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT

install -D -m 0755 "$bin" "$root/usr/bin/blason"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/blason"
install -D -m 0644 packaging/blason.service "$root/lib/systemd/system/blason.service"
install -D -m 0644 packaging/blason.toml "$root/etc/blason/blason.toml"
"$root/usr/bin/blason" manpages "$root/usr/share/man/man1" 2>/dev/null
gzip -9n "$root"/usr/share/man/man1/*.1

doc="$root/usr/share/doc/blason"
install -d "$doc"
cat > "$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: blason

Files: *
Copyright: 2024-2026 the blason authors
License: MIT or Apache-2.0
 Licensed under either of the Apache License, Version 2.0 (see
 /usr/share/common-licenses/Apache-2.0) or the MIT license, at your option.
 .
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions: the above copyright
 notice and this permission notice shall be included in all copies or
 substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
COPYRIGHT
printf 'blason (%s) unstable; urgency=medium\n\n  * Built from the repository.\n\n -- blason maintainers <blason@packages.invalid>  %s\n' \
    "$version" "$(date -R -u -d "@$when")" | gzip -9n > "$doc/changelog.gz"

# Dependencies: the highest glibc symbol version the binary uses, and libgcc's
# unwinder.
glibc=$(objdump -T "$root/usr/bin/blason" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
depends="libc6 (>= ${glibc:-2.34}), libgcc-s1"
size=$(du -sk "$root" | cut -f1)

install -d "$root/DEBIAN"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
    packaging/debian/control > "$root/DEBIAN/control"
install -m 0644 packaging/debian/conffiles "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
    install -m 0755 "packaging/debian/$s" "$root/DEBIAN/$s"
done
(cd "$root" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/blason_${version}_${arch}.deb"
SOURCE_DATE_EPOCH=$when dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
