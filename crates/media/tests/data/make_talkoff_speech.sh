#!/bin/sh
# Regenerates the speech used by tests/dtmf_talkoff.rs: synthetic English and French speech
# (espeak-ng, a male and a female voice each), resampled to the 8 kHz mono 16-bit of a call
# and normalised to a loud -3 dBFS peak, where talk-off is most likely. Needs espeak-ng and sox.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

en="Thank you for calling. For sales, press one. For support, press two. Please hold."
fr="Merci de votre appel. Pour le service commercial, tapez un. Veuillez patienter."

espeak-ng -v en -s 165 -w "$tmp/en_m.wav" "$en"
espeak-ng -v en+f4 -p 70 -s 165 -w "$tmp/en_f.wav" "$en"
espeak-ng -v fr -s 165 -w "$tmp/fr_m.wav" "$fr"
espeak-ng -v fr+f2 -p 70 -s 165 -w "$tmp/fr_f.wav" "$fr"

for lang in en fr; do
    # -D: no dither (reproducible files); rate -v: best-quality resampler.
    sox -D -V1 "$tmp/${lang}_m.wav" "$tmp/${lang}_f.wav" -r 8000 -c 1 -b 16 -e signed \
        "talkoff_$lang.wav" rate -v gain -n -3
done
ls -l talkoff_en.wav talkoff_fr.wav
