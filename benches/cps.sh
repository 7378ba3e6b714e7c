#!/usr/bin/env bash
# Calls per second through the B2BUA, against SIPp calling SIPp directly in the same run.
#
#   benches/cps.sh [RATES] [SECONDS_PER_STEP]
#   benches/cps.sh "1000 2000 3000" 10
#   SB_CPUS=0 benches/cps.sh "500 1000 1500" 10      # the switch pinned to one core
#   SOAK=600 RATE=1500 benches/cps.sh                  # one 10-minute step, RSS every 30 s
#
# For each rate, SIPp's built-in UAC places RATE*SECONDS calls (-sn uac: INVITE, 180, 200, ACK,
# BYE) either straight to a SIPp UAS ("direct") or through a release build of switchboard to
# the same UAS, registered as agent 1002's static contact ("b2bua"); where Debian's kamailio is
# installed, a stateful Kamailio proxy forwards to the same UAS as a reference ("kamailio").
# Known issue: in our runs Kamailio 5.6 lost calls to UDP retransmission timeouts even at
# 1000 cps with this minimal config (children=4), far below its published figures; treat its
# line as unverified until the config is tuned (shared memory, tm timers).
#
# The direct steps run first, then the B2BUA steps back to back on ONE switch (chained: each
# step starts while the previous step's transactions are still in their 32 s RFC 3261 timers),
# stopping at the first step that loses a call. A step counts only when every call succeeded.
# Each B2BUA step prints the switch's CPU per bridged call (user + system time from
# /proc/PID/stat over the step, divided by its calls) and calls/s per core used. It prints,
# per path, the highest clean rate and the ratio against direct, and then the memory each
# established call costs the switch (RSS growth with N calls held open, divided by N).
#
# SB_CPUS pins the switch to those CPUs (taskset list), SIPp stays unpinned: run it with 0 and
# with 0,1 to see how the switch scales from one core to two.
#
# Everything runs on 127.0.0.1, bounded by the call counts above.
set -euo pipefail

RATES=${1:-"500 1000 1500 2000 3000 4000"}
STEP_SECONDS=${2:-10}
HOLD_CALLS=${HOLD_CALLS:-2000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/switchboard-cps.XXXXXX)
SOAK=${SOAK:-}
SB_CPUS=${SB_CPUS:-}
UAS_PORT=5090
SB_PORT=5070
KAM_PORT=5080
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
# No IVR: every call goes straight to agent 1002 (the shipped dialplans need their queues).
dir = "$WORK/no-dialplans"

[log]
level = "warn"

[security]
# Trunk calls at once: the memory step holds 2,000 calls (the default is 1000).
max_trunk_calls = 2400
# Both SIPp processes share 127.0.0.1, a known source: far above the default 2000 messages/s.
known_source_rate = 200000
known_source_burst = 400000

[recording]
# Recorded as in production, but into this run's directory, never the working tree.
path = "$WORK/recordings/{date}/{time}-{call_id}-{agent}.wav"
voicemail_dir = "$WORK/recordings/voicemail"

[[agents]]
extension = "1002"
password = "bench-secret-1002"
contact = "127.0.0.1:$UAS_PORT"

[[trunks]]
name = "bench"
allow_from = ["127.0.0.0/8"]
EOF

# A fresh UAS for every step, so no step inherits another's unfinished calls.
start_uas() {
    sipp -sn uas -i 127.0.0.1 -p $UAS_PORT -nostdin -bg >/dev/null 2>&1 || true
    for _ in $(seq 50); do
        UAS_PID=$(pgrep -f "sipp -sn uas -i 127.0.0.1 -p $UAS_PORT" | head -1 || true)
        [ -n "$UAS_PID" ] && break
        sleep 0.1
    done
    PIDS+=("$UAS_PID")
}
stop_uas() {
    kill "$UAS_PID" 2>/dev/null || true
    while kill -0 "$UAS_PID" 2>/dev/null; do sleep 0.1; done
}

# One switch for all B2BUA steps (chained), another fresh one for the memory step.
start_sb() {
    if [ -n "$SB_CPUS" ]; then
        taskset -c "$SB_CPUS" "$SB" serve --config "$WORK/switchboard.toml" >>"$WORK/switchboard.log" 2>&1 &
    else
        "$SB" serve --config "$WORK/switchboard.toml" >>"$WORK/switchboard.log" 2>&1 &
    fi
    SB_PID=$!
    PIDS+=("$SB_PID")
    wait_sb
}
wait_sb() {
    for _ in $(seq 50); do
        (echo >/dev/udp/127.0.0.1/$SB_PORT) 2>/dev/null && ss -lun | grep -q ":$SB_PORT " && break
        sleep 0.1
    done
}
stop_sb() {
    kill "$SB_PID" 2>/dev/null || true
    while kill -0 "$SB_PID" 2>/dev/null; do sleep 0.1; done
}
KAMAILIO=""
if command -v kamailio >/dev/null; then
    cat >"$WORK/kamailio.cfg" <<EOF
#!KAMAILIO
listen=udp:127.0.0.1:$KAM_PORT
children=${KAM_CHILDREN:-4}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "pv.so"
loadmodule "siputils.so"
request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483","Too Many Hops"); exit; }
    # In-dialog requests from SIPp's built-in UAC carry no Route (its BYE goes to the proxy):
    # every request goes to the UAS; initial ones are record-routed.
    if (has_totag()) { loose_route(); } else { record_route(); }
    \$du = "sip:127.0.0.1:$UAS_PORT";
    t_relay();
}
EOF
    kamailio -f "$WORK/kamailio.cfg" -DD -E >"$WORK/kamailio.log" 2>&1 &
    PIDS+=("$!")
    KAMAILIO=1
    sleep 1
fi

# The switch's CPU time so far, in clock ticks (user + system).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SB_PID/stat"; }
TICK=$(getconf CLK_TCK)

# run_step TARGET RATE SECONDS -> prints "ok …" or "FAILED …"
run_step() {
    local target=$1 rate=$2 seconds=$3 calls=$(($2 * $3)) stat="$WORK/stat-$1-$2.csv"
    local start end
    start=$(date +%s.%N)
    if sipp -sn uac -s 1002 "$target" -i 127.0.0.1 -p 0 -r "$rate" -m "$calls" -l $((rate * 4)) \
        -nostdin -timeout $((seconds * 4))s -timeout_error \
        -trace_stat -stf "$stat" -fd 1 -trace_err -error_file "$WORK/errors-${1//[:.]/_}-$2.log" \
        >/dev/null 2>&1; then
        end=$(date +%s.%N)
        echo "ok, $calls calls at $(echo "$calls / ($end - $start)" | bc -l | xargs printf '%.0f') cps achieved"
    else
        echo "FAILED (some calls failed or timed out; see $stat)"
    fi
}

# b2bua_step RATE SECONDS -> run_step's line, with the switch's CPU per call for the step.
b2bua_step() {
    local rate=$1 seconds=$2 before after start end result
    before=$(cpu_ticks)
    start=$(date +%s.%N)
    result=$(run_step "127.0.0.1:$SB_PORT" "$rate" "$seconds")
    end=$(date +%s.%N)
    after=$(cpu_ticks)
    printf '%s; switch CPU %.0f µs per call, %.2f cores, %.0f calls/s per core\n' "$result" \
        "$(echo "($after - $before) * 1000000 / $TICK / ($rate * $seconds)" | bc -l)" \
        "$(echo "($after - $before) / $TICK / ($end - $start)" | bc -l)" \
        "$(echo "($rate * $seconds) / (($after - $before) / $TICK + 0.000001)" | bc -l)"
}

if [ -n "$SOAK" ]; then
    # One long step at RATE on one switch, its RSS read every 30 s.
    RATE=${RATE:-1500}
    start_sb
    start_uas
    rss() { awk '/VmRSS/ {print $2}' "/proc/$SB_PID/status"; }
    echo "soak: $RATE cps for $SOAK s; switch RSS (KiB) every 30 s:"
    ( while kill -0 "$SB_PID" 2>/dev/null; do printf '  %s s: %s\n' "$SECONDS" "$(rss)"; sleep 30; done ) &
    SAMPLER=$!
    SECONDS=0
    result=$(b2bua_step "$RATE" "$SOAK")
    kill "$SAMPLER" 2>/dev/null || true
    echo "b2bua     rate $RATE for $SOAK s: $result"
    echo "RSS after the step: $(rss) KiB; after the transactions' timers (40 s):"
    sleep 40
    echo "  $(rss) KiB"
    exit 0
fi

declare -A BEST=([direct]=0 [b2bua]=0 [kamailio]=0)
for path in direct b2bua kamailio; do
    case $path in
        direct) target="127.0.0.1:$UAS_PORT" ;;
        b2bua) target="127.0.0.1:$SB_PORT"; start_sb ;;
        kamailio) [ -n "$KAMAILIO" ] || continue; target="127.0.0.1:$KAM_PORT" ;;
    esac
    for rate in $RATES; do
        start_uas
        if [ "$path" = b2bua ]; then
            result=$(b2bua_step "$rate" "$STEP_SECONDS")
        else
            result=$(run_step "$target" "$rate" "$STEP_SECONDS")
        fi
        stop_uas
        printf '%-9s rate %5s: %s\n' "$path" "$rate" "$result"
        [[ $result == ok* ]] || break
        [ "$rate" -gt "${BEST[$path]}" ] && BEST[$path]=$rate
        # Chained: the next step starts at once, this one's transactions still in their timers.
        if [ "$path" != b2bua ]; then sleep 2; fi
    done
    if [ "$path" = b2bua ]; then stop_sb; fi
done

echo
echo "highest rate with zero failed calls (${STEP_SECONDS}s per step):"
printf '  direct SIPp->SIPp : %5s cps\n' "${BEST[direct]}"
printf '  switchboard B2BUA : %5s cps  (ratio %.2f of direct)\n' "${BEST[b2bua]}" \
    "$(echo "${BEST[b2bua]} / (${BEST[direct]} + 0.0001)" | bc -l)"
if [ -n "$KAMAILIO" ]; then
    printf '  kamailio proxy    : %5s cps  (ratio %.2f of direct)\n' "${BEST[kamailio]}" \
        "$(echo "${BEST[kamailio]} / (${BEST[direct]} + 0.0001)" | bc -l)"
fi

[ -n "${SKIP_MEMORY:-}" ] && exit 0
start_sb

# Memory per established call, on the fresh switch: hold HOLD_CALLS calls open (60 s pauses)
# and compare RSS before and while they are up.
rss() { awk '/VmRSS/ {print $2}' "/proc/$SB_PID/status"; }
start_uas
idle=$(rss)
sipp -sn uac -s 1002 "127.0.0.1:$SB_PORT" -i 127.0.0.1 -p 0 -r 500 -m "$HOLD_CALLS" -l "$HOLD_CALLS" \
    -d 60000 -nostdin -bg >/dev/null 2>&1 || true
sleep $((HOLD_CALLS / 500 + 3))
held=$(rss)
pkill -f "sipp -sn uac -s 1002 127.0.0.1:$SB_PORT" || true
stop_uas
MEMORY=$(printf 'memory: idle RSS %s KiB, with %s calls up %s KiB: %.1f KiB per established call' \
    "$idle" "$HOLD_CALLS" "$held" "$(echo "($held - $idle) / $HOLD_CALLS" | bc -l)")
stop_sb

echo
echo "$MEMORY"
