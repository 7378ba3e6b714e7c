#!/bin/sh
# Regenerates the G.711 reference data used by tests/g711_reference.rs, with SoX as an
# implementation independent of ours. Run from anywhere; needs sox and perl.
#
#   alaw_encode.alaw / ulaw_encode.ulaw   65,536 octets: the code of every i16 sample, in order
#                                         -32768, -32767, …, 32767 (sample i at offset i + 32768)
#   alaw_decode.s16  / ulaw_decode.s16    256 little-endian i16: the decoded value of codes 0..=255
#
# -D disables SoX's dither: it otherwise adds TPDF noise whenever the output has fewer bits than
# the input (16 → 13/14 bits here), which would make the data random.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Every i16, ascending, little-endian.
perl -e 'print pack("s<*", -32768 .. 32767)' > "$tmp/all.raw"
# Every code, 0..=255.
perl -e 'print pack("C*", 0 .. 255)' > "$tmp/codes.raw"

raw16="-t raw -e signed -b 16 -L -c 1 -r 8000"
for law in a mu; do
    case $law in a) name=alaw ;; mu) name=ulaw ;; esac
    # shellcheck disable=SC2086 # word splitting of $raw16 is intended
    sox -D -V1 $raw16 "$tmp/all.raw" -t raw -e $law-law -b 8 -c 1 -r 8000 "$name"_encode.$name
    # shellcheck disable=SC2086
    sox -D -V1 -t raw -e $law-law -b 8 -c 1 -r 8000 "$tmp/codes.raw" $raw16 "$name"_decode.s16
done
ls -l alaw_encode.alaw ulaw_encode.ulaw alaw_decode.s16 ulaw_decode.s16
