#!/usr/bin/env bash
# Floods from one host while real calls go on: how many real calls complete, and what the flood
# leaves in memory (docs/security.md, "Overload").
#
#   benches/flood.sh [SECONDS] [FLOOD_RATE]
#   benches/flood.sh 30 100000
#
# For each probe a fresh release switch, a SIPp UAS as agent 1002 (static contact), and a SIPp
# caller from the trunk range placing 10 calls/s for SECONDS; meanwhile one SIPp sender floods
# at FLOOD_RATE requests/s asked (SIPp sends as fast as it can up to that; the rate it reached
# is printed), sending and forgetting one request per "call":
#   none            no flood: the real calls alone, the baseline for the RSS growth
#   register        REGISTER without credentials from a stranger (127.0.0.5)
#   invite_unauth   INVITE to agent 1002 without credentials from a stranger (127.0.0.5)
#   invite_unknown  INVITE to unknown numbers from a stranger (127.0.0.5)
#   trunk_unknown   INVITE to unknown numbers from a trunk's own address (127.0.0.9: trusted,
#                   not rate-limited; answered 404 statelessly)
# It prints, per probe, the real calls completed, the flood's requests and rate, and the
# switch's RSS before, at the flood's end and 40 s after (the limiter's state for the flood
# expires; refusals keep none). Compare each probe's growth with `none`'s: the real calls'
# records, timers and the allocator's first pages grow RSS by themselves.
#
# Everything runs on 127.0.0.0/8, bounded by the counts above; the switch, SIPp and the flood
# share the machine's cores.
set -euo pipefail

SECONDS_PER_PROBE=${1:-30}
FLOOD_RATE=${2:-100000}
PROBES=${PROBES:-"none register invite_unauth invite_unknown trunk_unknown"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/switchboard-flood.XXXXXX)
UAS_PORT=5090
SB_PORT=5070
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

command -v sipp >/dev/null || { echo "sipp missing: apt-get install -y sip-tester" >&2; exit 1; }
cargo build --release -q -p switchboard --manifest-path "$ROOT/Cargo.toml"
SB="$ROOT/target/release/switchboard"

cat >"$WORK/switchboard.toml" <<EOF
[sip]
udp = ["127.0.0.1:$SB_PORT"]
tcp = []

[dialplan]
dir = "$WORK/no-dialplans"

[log]
level = "warn"

[recording]
path = "$WORK/recordings/{date}/{time}-{call_id}-{agent}.wav"
voicemail_dir = "$WORK/recordings/voicemail"

[store]
path = "$WORK/switchboard.db"

[[agents]]
extension = "1002"
password = "flood-bench-secret-1002"
contact = "127.0.0.1:$UAS_PORT"

[[trunks]]
name = "bench"
allow_from = ["127.0.0.1/32"]

[[trunks]]
name = "carrier"
allow_from = ["127.0.0.9/32"]
EOF

rss() { awk '/VmRSS/ {print $2}' "/proc/$SB_PID/status"; }
column() { # column NAME FILE: the last value of a SIPp statistics column
    paste -d= <(head -1 "$2" | tr ';' '\n') <(tail -1 "$2" | tr ';' '\n') | awk -F= -v n="$1" '$1 == n {print $2}'
}

for probe in $PROBES; do
    case $probe in
        none) scenario="" source="" ;;
        trunk_unknown) scenario=invite_unknown source=127.0.0.9 ;;
        *) scenario=$probe source=127.0.0.5 ;;
    esac
    "$SB" serve --config "$WORK/switchboard.toml" >>"$WORK/switchboard-$probe.log" 2>&1 &
    SB_PID=$!
    PIDS+=("$SB_PID")
    for _ in $(seq 50); do ss -lun | grep -q ":$SB_PORT " && break; sleep 0.1; done
    sipp -sn uas -i 127.0.0.1 -p $UAS_PORT -nostdin -bg >/dev/null 2>&1 || true
    sleep 2
    before=$(rss)
    calls=$((10 * SECONDS_PER_PROBE))
    FLOOD=""
    if [ -n "$scenario" ]; then
        sipp -sf "$ROOT/benches/sipp/flood_$scenario.xml" "127.0.0.1:$SB_PORT" -i "$source" -p 0 \
            -r "$FLOOD_RATE" -m $((FLOOD_RATE * SECONDS_PER_PROBE)) -l 1000000 -nostdin \
            -timeout "${SECONDS_PER_PROBE}s" -trace_stat -stf "$WORK/flood-$probe.csv" -fd 1 \
            >/dev/null 2>&1 &
        FLOOD=$!
        PIDS+=("$FLOOD")
    fi
    sipp -sn uac -s 1002 "127.0.0.1:$SB_PORT" -i 127.0.0.1 -p 0 -r 10 -m "$calls" -nostdin \
        -timeout $((SECONDS_PER_PROBE * 3))s -trace_stat -stf "$WORK/calls-$probe.csv" -fd 1 \
        >/dev/null 2>&1 || true
    if [ -n "$FLOOD" ]; then wait "$FLOOD" 2>/dev/null || true; fi
    during=$(rss)
    ok=$(column 'SuccessfulCall(C)' "$WORK/calls-$probe.csv")
    sent=0 took=00:00:00
    if [ -n "$FLOOD" ]; then
        sent=$(column 'TotalCallCreated' "$WORK/flood-$probe.csv")
        took=$(column 'ElapsedTime(C)' "$WORK/flood-$probe.csv")
    fi
    sleep 40
    after=$(rss)
    pkill -f "sipp -sn uas -i 127.0.0.1 -p $UAS_PORT" || true
    kill "$SB_PID"
    wait "$SB_PID" 2>/dev/null || true
    printf '%-15s real calls %s/%s (%.1f %%); flood %s requests in %s (%.0f/s); RSS KiB before %s, at the end %s, 40 s later %s (%+.1f %%)\n' \
        "$probe" "$ok" "$calls" "$(echo "100 * $ok / $calls" | bc -l)" "$sent" "$took" \
        "$(echo "$sent / ($(date -u -d "1970-01-01 $took" +%s) + 0.001)" | bc -l)" \
        "$before" "$during" "$after" "$(echo "100 * ($after - $before) / $before" | bc -l)"
done
