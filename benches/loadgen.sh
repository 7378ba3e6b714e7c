#!/usr/bin/env bash
# Concurrent calls with real RTP through the switch, against a raw UDP relay in the same run.
#
#   benches/loadgen.sh [STEPS] [SECONDS_PER_STEP]
#   benches/loadgen.sh "100 200 400 600 800 1000 1200 1400 1600" 20
#
# For each number of concurrent calls N, `loadgen` (benches/src/bin/loadgen.rs) sets up N calls
# (SIP + G.711 RTP both ways at 50 packets/s per direction, 100 packets/s relayed per call), holds
# them SECONDS_PER_STEP seconds, and measures loss, added latency and jitter per direction, and
# the CPU and RSS of the process carrying the media. The paths, interleaved step by step so that
# a change in the machine's load hits them alike:
#   baseline   a raw single-threaded UDP relay (mio, recv_from + send_to), a child of loadgen
#   relay      switchboard with [recording] enabled = false
#   record     switchboard recording every call
#   transcode  switchboard, the agent side answering opus/48000/2 (PCMA <-> Opus)
# Every switch step runs on a freshly started release switch (so idle RSS and memory per call are
# measured on a clean process) with agent 1002's static contact on loadgen's agent port and a
# trunk allowing 127.0.0.0/8. A step is clean when every call came up and stayed up, loss is
# below 0.1 % and p99 added latency below 5 ms in both directions (transcoded directions carry no
# send stamp: loss only). A path stops at its first unclean step; the table gives its highest
# clean N and the ratio to the baseline's. Targets (the issue): relay >= 0.9, record >= 0.7,
# <= 150 KiB RSS per call, transcoding >= 300 calls per core.
#
# MODES="relay record" limits the switch modes; WORKERS sets [media] workers (default 0: one per
# core); RAMP (calls per second, default 200) sets the
# set-up and hang-up rate; RETRIES=1 runs an unclean step once more before its path stops (on a
# machine shared with other work, where one burst of someone's build can stall every process
# for longer than the 5 ms budget; the output marks such steps). Everything runs on 127.0.0.1, bounded by the steps above (at most 5000
# calls and 300 s a step). Needs jq.
set -euo pipefail

STEPS=${1:-"100 200 400 600 800 1000 1200 1400 1600"}
STEP_SECONDS=${2:-20}
RAMP=${RAMP:-200}
RETRIES=${RETRIES:-0}
MODES=${MODES:-"relay record transcode"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d /tmp/switchboard-loadgen.XXXXXX)
SB_PORT=5070
AGENT_PORT=5090
SB_PID=""
cleanup() {
    [ -n "$SB_PID" ] && kill "$SB_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"/rec-*
}
trap cleanup EXIT

command -v jq >/dev/null || { echo "jq missing: apt-get install -y jq" >&2; exit 1; }
cargo build --release -q -p switchboard --manifest-path "$ROOT/Cargo.toml"
cargo build --release -q -p switchboard-benches --bin loadgen --manifest-path "$ROOT/Cargo.toml"
SB="$TARGET/release/switchboard"
LG="$TARGET/release/loadgen"

# write_config MODE: recording on for `record` only. RTP ports stay below Linux's ephemeral range
# (32768+), where loadgen's own sockets live.
write_config() {
    local recording=false
    [ "$1" = record ] && recording=true
    mkdir -p "$WORK/rec-$1"
    cat >"$WORK/$1.toml" <<EOF
[sip]
udp = ["127.0.0.1:$SB_PORT"]
tcp = []

[dialplan]
# No IVR: every call goes straight to agent 1002 (the shipped dialplans need their queues).
dir = "$WORK/no-dialplans"

[log]
level = "warn"

[security]
# Trunk calls at once: the largest steps hold thousands of calls (the default is 1000).
max_trunk_calls = 2999
# Both SIPp processes share 127.0.0.1, a known source: far above the default 2000 messages/s.
known_source_rate = 200000
known_source_burst = 400000

[media]
workers = ${WORKERS:-0}
rtp_port_min = 20000
rtp_port_max = 31998
timeout_s = 120

[recording]
enabled = $recording
path = "$WORK/rec-$1/{call_id}.wav"

[[agents]]
extension = "1002"
password = "bench-secret-1002"
contact = "127.0.0.1:$AGENT_PORT"

[[trunks]]
name = "bench"
allow_from = ["127.0.0.0/8"]
EOF
}

start_sb() {
    "$SB" serve --config "$WORK/$1.toml" >>"$WORK/switchboard-$1.log" 2>&1 &
    SB_PID=$!
    for _ in $(seq 50); do
        ss -lun | grep -q "127.0.0.1:$SB_PORT " && return 0
        sleep 0.1
    done
    echo "switchboard did not start; see $WORK/switchboard-$1.log" >&2
    exit 1
}
stop_sb() {
    kill "$SB_PID" 2>/dev/null || true
    while kill -0 "$SB_PID" 2>/dev/null; do sleep 0.1; done
    SB_PID=""
    rm -rf "$WORK/rec-$1"/*
}

# run_step MODE N -> one JSON object on stdout (loadgen --json)
run_step() {
    local mode=$1 calls=$2
    local common=(--calls "$calls" --duration "$STEP_SECONDS" --ramp "$RAMP" --json)
    if [ "$mode" = baseline ]; then
        "$LG" --baseline "${common[@]}"
        return
    fi
    local codec=()
    [ "$mode" = transcode ] && codec=(--agent-codec opus)
    write_config "$mode"
    start_sb "$mode"
    "$LG" --switch "127.0.0.1:$SB_PORT" --switch-pid "$SB_PID" --agent-port "$AGENT_PORT" \
        "${codec[@]}" "${common[@]}" || { stop_sb "$mode"; return 1; }
    stop_sb "$mode"
}

# jq helpers: numbers to 2 (loss: 3) decimals, "n/a" for null.
JQ_DEFS='def rn($k): if . == null then "n/a" else ((. * $k | round) / $k | tostring) end;
def r2: rn(100); def r3: rn(1000);'
summary() {
    jq -r "$JQ_DEFS"'"\(if .clean then "clean" else "NOT clean" end): loss \(.worst_loss_pct | r3) %, p99 \(.worst_p99_ms | r2) ms, CPU \(.process.cpu_pct | r2) %, \(.process.kib_per_call | r2) KiB/call\(if .clean then "" else " (" + (.problems | join("; ")) + ")" end)"' <<<"$1"
}

echo "command: $0 \"$STEPS\" $STEP_SECONDS  (RAMP=$RAMP RETRIES=$RETRIES MODES=\"$MODES\")"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
declare -A BEST=() BEST_JSON=() DONE=()
PATHS="baseline $MODES"
for calls in $STEPS; do
    for mode in $PATHS; do
        [ -z "${DONE[$mode]:-}" ] || continue
        clean=false
        for attempt in $(seq 0 "$RETRIES"); do
            if ! json=$(run_step "$mode" "$calls"); then
                echo "$mode $calls calls: loadgen failed" >&2
                json=""
                break
            fi
            echo "$json" >>"$WORK/results.jsonl"
            printf '%-9s %5s calls (attempt %s): %s\n' "$mode" "$calls" $((attempt + 1)) "$(summary "$json")"
            clean=$(jq -r .clean <<<"$json")
            sleep 2
            [ "$clean" = true ] && break
        done
        if [ "$clean" = true ]; then
            BEST[$mode]=$calls
            BEST_JSON[$mode]=$json
        else
            DONE[$mode]=1
        fi
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

base=${BEST[baseline]:-0}
echo
echo "highest clean step (${STEP_SECONDS} s with every call up, loss < 0.1 %, p99 < 5 ms):"
echo
echo "| path | highest clean calls | ratio to baseline | target | worst loss % | worst p99 ms | CPU % of one core | RSS KiB per call |"
echo "|---|---|---|---|---|---|---|---|"
for mode in $PATHS; do
    n=${BEST[$mode]:-0}
    case $mode in
        baseline) target="-" ;;
        relay) target=">= 0.9" ;;
        record) target=">= 0.7" ;;
        transcode) target=">= 300 calls per core" ;;
    esac
    if [ "$n" = 0 ]; then
        echo "| $mode | none | - | $target | - | - | - | - |"
        continue
    fi
    ratio=$(echo "$n / ($base + 0.0001)" | bc -l | xargs printf '%.2f')
    j=${BEST_JSON[$mode]}
    row=$(jq -r "$JQ_DEFS"'[(.worst_loss_pct | r3), (.worst_p99_ms | r2), (.process.cpu_pct | r2), (.process.kib_per_call | r2)] | join(" | ")' <<<"$j")
    if [ "$mode" = transcode ]; then
        # Calls per core: N over the cores the switch used with N calls up.
        cpu=$(jq -r '.process.cpu_pct // 0' <<<"$j")
        if [ "$(echo "$cpu >= 1" | bc -l)" = 1 ]; then
            ratio="$ratio ($(echo "$n * 100 / $cpu" | bc -l | xargs printf '%.0f') calls per core)"
        else
            ratio="$ratio (switch CPU under 1 %: it did not transcode)"
        fi
    fi
    echo "| $mode | $n | $ratio | $target | $row |"
done
echo
echo "every step's JSON: $WORK/results.jsonl (kept)"
