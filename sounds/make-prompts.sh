#!/usr/bin/env bash
# Generates the shipped prompts: sounds/{fr,en}/*.wav (the after-sales IVR), the `say` fragments
# in sounds/{fr,en}/say/, sounds/beep.wav and the music on hold in sounds/moh/.
# Every file is 8 kHz mono 16-bit PCM WAV, what the media engine plays without resampling.
#
# Needs espeak-ng and sox (apt-get install -y espeak-ng sox).
# Idempotent: existing files are kept; `--force` regenerates everything.
# The fragment lists must match crates/dialplan/src/say.rs (a test there checks every file).
set -euo pipefail
cd "$(dirname "$0")"

force=0
[[ "${1:-}" == "--force" ]] && force=1
for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null || { echo "make-prompts: $tool is missing (apt-get install -y espeak-ng sox)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
made=0

voice() { case "$1" in fr) echo fr-fr ;; en) echo en-gb ;; esac; }

# speak OUT TRIM LANG TEXT [LANG TEXT]...: one file from one or more spoken parts.
speak() {
    local out=$1 trim=$2; shift 2
    if [[ -f "$out" && $force == 0 ]]; then return; fi
    mkdir -p "$(dirname "$out")"
    local parts=() i=0
    while (($#)); do
        espeak-ng -v "$(voice "$1")" -s 150 -w "$tmp/raw$i.wav" "$2"
        parts+=("$tmp/raw$i.wav"); shift 2; i=$((i + 1))
    done
    if [[ $trim == trim ]]; then
        # Fragments are chained by `say`: no silence around them.
        sox -V1 "${parts[@]}" -r 8000 -c 1 -b 16 "$out" silence 1 0.02 1% reverse silence 1 0.02 1% reverse
    else
        sox -V1 "${parts[@]}" -r 8000 -c 1 -b 16 "$out"
    fi
    made=$((made + 1))
}

prompt() { speak "$1/$2.wav" keep "$1" "$3"; }
both() { speak "fr/$1.wav" keep fr "$2" en "$3"; speak "en/$1.wav" keep fr "$2" en "$3"; }

# Before the caller has chosen a language, prompts speak both.
both welcome "Bienvenue au service après-vente." "Welcome to our after-sales service."
both choose-language "Pour le français, tapez 1." "For English, press 2."

prompt fr no-input "Nous n'avons pas reçu votre choix."
prompt en no-input "We did not receive your choice."
prompt fr invalid-choice "Ce choix n'est pas valide."
prompt en invalid-choice "That choice is not valid."
prompt fr goodbye "Au revoir."
prompt en goodbye "Goodbye."
prompt fr main-menu "Pour une commande, tapez 1. Pour un retour, tapez 2. Pour l'assistance technique, tapez 3. Pour parler à un conseiller, tapez 0."
prompt en main-menu "For an order, press 1. For a return, press 2. For technical support, press 3. To speak to an adviser, press 0."
prompt fr please-hold "Merci de patienter, un conseiller va vous répondre."
prompt en please-hold "Please hold, an adviser will be with you shortly."
prompt fr all-busy "Tous nos conseillers sont occupés. Pour être rappelé, tapez 1. Pour laisser un message, tapez 2."
prompt en all-busy "All our advisers are busy. To be called back, press 1. To leave a message, press 2."
prompt fr closed "Nos bureaux sont fermés. Nous sommes ouverts du lundi au samedi, de 8 heures à 20 heures."
prompt en closed "Our offices are closed. We are open Monday to Saturday, from 8 am to 8 pm."
prompt fr closed-options "Pour être rappelé, tapez 1. Pour laisser un message, tapez 2."
prompt en closed-options "To be called back, press 1. To leave a message, press 2."
prompt fr voicemail-greeting "Laissez votre message après le bip, puis tapez dièse."
prompt en voicemail-greeting "Please leave your message after the tone, then press hash."
prompt fr thank-you-goodbye "Merci, au revoir."
prompt en thank-you-goodbye "Thank you, goodbye."
prompt fr enter-callback-number "Tapez le numéro à dix chiffres auquel nous pouvons vous rappeler."
prompt en enter-callback-number "Please enter the ten-digit number we can call you back on."
prompt fr invalid-number "Ce numéro n'est pas valide."
prompt en invalid-number "That number is not valid."
prompt fr you-entered "Vous avez tapé"
prompt en you-entered "You entered"
prompt fr confirm-number "Pour confirmer, tapez 1. Pour le corriger, tapez 2."
prompt en confirm-number "To confirm, press 1. To change it, press 2."
prompt fr callback-confirmed "C'est noté, un conseiller vous rappellera dès que possible. Au revoir."
prompt en callback-confirmed "Thank you, an adviser will call you back as soon as possible. Goodbye."

# Queues: position and expected wait (with `say` numbers between), played by the ACD's
# announcements in the caller's language.
prompt fr queue-position "Vous êtes en position"
prompt en queue-position "You are number"
prompt fr queue-wait "Votre temps d'attente est estimé à"
prompt en queue-wait "Your expected wait is about"
prompt fr queue-minutes "minutes."
prompt en queue-minutes "minutes."
prompt fr queue-wait-short "Un conseiller va vous répondre dans moins d'une minute."
prompt en queue-wait-short "An adviser will be with you in less than a minute."

# Agents' feature codes (*45 log in, *46 log out, *47 pause, *48 ready): the confirmation, in
# the agent's first language.
prompt fr agent-logged-in "Vous êtes connecté."
prompt en agent-logged-in "You are logged in."
prompt fr agent-logged-out "Vous êtes déconnecté."
prompt en agent-logged-out "You are logged out."
prompt fr agent-paused "Vous êtes en pause."
prompt en agent-paused "You are paused."
prompt fr agent-ready "Vous êtes disponible."
prompt en agent-ready "You are ready for calls."
prompt fr agent-refused "Ce n'est pas possible maintenant."
prompt en agent-refused "That is not possible now."

# `say` fragments: name|words, as in crates/dialplan/src/say.rs.
fragments_fr=(
    0\|zéro 1\|un 2\|deux 3\|trois 4\|quatre 5\|cinq 6\|six 7\|sept 8\|huit 9\|neuf
    10\|dix 11\|onze 12\|douze 13\|treize 14\|quatorze 15\|quinze 16\|seize 17\|dix-sept
    18\|dix-huit 19\|dix-neuf 20\|vingt 30\|trente 40\|quarante 50\|cinquante 60\|soixante
    80\|quatre-vingt 80s\|quatre-vingts 100\|cent 100s\|cents 1000\|mille million\|million
    millions\|millions and\|et star\|étoile hash\|dièse first\|premier
    month-1\|janvier month-2\|février month-3\|mars month-4\|avril month-5\|mai month-6\|juin
    month-7\|juillet month-8\|août month-9\|septembre month-10\|octobre month-11\|novembre
    month-12\|décembre
    day-1\|lundi day-2\|mardi day-3\|mercredi day-4\|jeudi day-5\|vendredi day-6\|samedi
    day-7\|dimanche
)
fragments_en=(
    0\|zero 1\|one 2\|two 3\|three 4\|four 5\|five 6\|six 7\|seven 8\|eight 9\|nine
    10\|ten 11\|eleven 12\|twelve 13\|thirteen 14\|fourteen 15\|fifteen 16\|sixteen
    17\|seventeen 18\|eighteen 19\|nineteen 20\|twenty 30\|thirty 40\|forty 50\|fifty
    60\|sixty 70\|seventy 80\|eighty 90\|ninety 100\|hundred 1000\|thousand million\|million
    and\|and star\|star hash\|hash the\|the of\|of
    ord-1\|first ord-2\|second ord-3\|third ord-4\|fourth ord-5\|fifth ord-6\|sixth
    ord-7\|seventh ord-8\|eighth ord-9\|ninth ord-10\|tenth ord-11\|eleventh ord-12\|twelfth
    ord-13\|thirteenth ord-14\|fourteenth ord-15\|fifteenth ord-16\|sixteenth
    ord-17\|seventeenth ord-18\|eighteenth ord-19\|nineteenth ord-20\|twentieth
    ord-30\|thirtieth
    month-1\|January month-2\|February month-3\|March month-4\|April month-5\|May month-6\|June
    month-7\|July month-8\|August month-9\|September month-10\|October month-11\|November
    month-12\|December
    day-1\|Monday day-2\|Tuesday day-3\|Wednesday day-4\|Thursday day-5\|Friday day-6\|Saturday
    day-7\|Sunday
)
for item in "${fragments_fr[@]}"; do speak "fr/say/${item%%|*}.wav" trim fr "${item#*|}"; done
for item in "${fragments_en[@]}"; do speak "en/say/${item%%|*}.wav" trim en "${item#*|}"; done

# The tone before a recording (voicemail, record beep=#true): 1 kHz, a quarter of a second.
if [[ ! -f beep.wav || $force == 1 ]]; then
    sox -n -r 8000 -c 1 -b 16 beep.wav synth 0.25 sine 1000 vol 0.5 fade 0.01 0.25 0.01
    made=$((made + 1))
fi

# Music on hold: a soft 16-second loop of four chords (C, A minor, F, G), each note a decaying
# pluck, mixed to mono at 8 kHz. It ends on the chord before the first, so it loops smoothly.
if [[ ! -f moh/soft-chords.wav || $force == 1 ]]; then
    mkdir -p moh
    chords=("261.63 329.63 392.00" "220.00 261.63 329.63" "174.61 220.00 261.63" "196.00 246.94 293.66")
    parts=()
    for i in "${!chords[@]}"; do
        read -r a b c <<<"${chords[$i]}"
        sox -n -r 8000 -c 3 -b 16 "$tmp/chord$i.wav" synth 4 pluck "$a" pluck "$b" pluck "$c" \
            remix 1-3 fade q 0.05 4 0.6 vol 0.6
        parts+=("$tmp/chord$i.wav")
    done
    sox "${parts[@]}" -r 8000 -c 1 -b 16 moh/soft-chords.wav
    made=$((made + 1))
fi

echo "make-prompts: $made file(s) made in $(pwd)"
