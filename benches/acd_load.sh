#!/usr/bin/env bash
# The whole contact-centre path under load: IVR -> queue -> agent, through a release build.
#
#   benches/acd_load.sh [RATES] [SECONDS_PER_STEP]        e.g. "100 200 300 400" 20
#   SOAK=600 RATE=200 benches/acd_load.sh                  ten minutes at one rate, memory sampled
#
# Callers (SIPp, benches/sipp/acd_caller.xml) dial one of QUEUES IVR entries (9000, 9001, ...);
# each entry's dialplan answers and `enqueue`s the caller in its queue (q-00 ... q-49). AGENTS
# agents (2000 ...), each a member of two queues, have fixed contacts on one SIPp UAS
# (benches/sipp/acd_agent.xml) that answers every offer at once and hangs up after TALK_MS; the
# switch then hangs up the caller. A step is clean when every call completed (zero lost calls)
# and every call left an `answered` record in the `cdr` view. Per step it prints the achieved
# rate, the ACD's routing decision time (enqueue -> offer, p50/p99, measured inside the switch
# and read from `switchboard queues --json`), and the switch's CPU and RSS.
#
# Recording and RTP are off in this bench (SIPp sends no media): it measures signalling, the
# ACD, call control and the store; the media path has its own bench (benches/loadgen.sh).
# Everything runs on 127.0.0.1, bounded by the call counts.
set -euo pipefail

RATES=${1:-"100 200 300 400"}
STEP_SECONDS=${2:-20}
AGENTS=${AGENTS:-500}
QUEUES=${QUEUES:-50}
TALK_MS=${TALK_MS:-1000}
SOAK=${SOAK:-0}
RATE=${RATE:-200}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/switchboard-acd-load.XXXXXX)
UAS_PORT=${UAS_PORT:-5190}
SB_PORT=${SB_PORT:-5170}
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

command -v sipp >/dev/null || { echo "sipp missing: apt-get install -y sip-tester" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 missing (reads the cdr view)" >&2; exit 1; }
cargo build --release -q -p switchboard --manifest-path "$ROOT/Cargo.toml"
SB="$ROOT/target/release/switchboard"

# The configuration: AGENTS agents with fixed contacts, QUEUES queues of 2*AGENTS/QUEUES
# members each (agent i serves queues i mod Q and i+1 mod Q), longest idle, no wrap-up.
mkdir -p "$WORK/dialplans"
{
    cat <<EOF
[sip]
udp = ["127.0.0.1:$SB_PORT"]
tcp = []

[log]
level = "warn"

[security]
# Trunk calls at once: high rates keep thousands of calls in the IVR and queues (the default is 1000).
max_trunk_calls = 4999
# Both SIPp processes share 127.0.0.1, a known source: far above the default 2000 messages/s.
known_source_rate = 200000
known_source_burst = 400000

[media]
rtp_port_min = 30000
rtp_port_max = 49999
timeout_s = 0

[recording]
enabled = false

[dialplan]
dir = "$WORK/dialplans"
sounds = "$ROOT/sounds"
watch = false

[control]
socket = "$WORK/switchboard.ctl"

[store]
path = "$WORK/switchboard.db"

[[trunks]]
name = "bench"
allow_from = ["127.0.0.0/8"]

EOF
    for ((i = 0; i < AGENTS; i++)); do
        printf '[[agents]]\nextension = "%d"\npassword = "bench-secret-%d"\ncontact = "127.0.0.1:%d"\nlanguages = ["en"]\n\n' \
            $((2000 + i)) $((2000 + i)) "$UAS_PORT"
    done
    for ((q = 0; q < QUEUES; q++)); do
        members=()
        for ((i = 0; i < AGENTS; i++)); do
            if (( i % QUEUES == q || (i + 1) % QUEUES == q )); then members+=("\"$((2000 + i))\""); fi
        done
        printf '[[queues]]\nname = "q-%02d"\nagents = [%s]\nring_timeout_s = 10\n\n' "$q" "$(IFS=,; echo "${members[*]}")"
    done
} >"$WORK/switchboard.toml"
{
    for ((q = 0; q < QUEUES; q++)); do
        printf 'entry "%d" start="q%02d"\nstep "q%02d" {\n    answer\n    enqueue "q-%02d"\n}\n' \
            $((9000 + q)) "$q" "$q" "$q"
    done
} >"$WORK/dialplans/bench.kdl"
{
    echo SEQUENTIAL
    for ((q = 0; q < QUEUES; q++)); do echo "$((9000 + q));"; done
} >"$WORK/numbers.csv"
"$SB" dialplan check --config "$WORK/switchboard.toml" >/dev/null

start_uas() {
    sipp -sf "$ROOT/benches/sipp/acd_agent.xml" -i 127.0.0.1 -p "$UAS_PORT" -d "$TALK_MS" \
        -nostdin -bg >/dev/null 2>&1 || true
    for _ in $(seq 50); do
        UAS_PID=$(pgrep -f "sipp -sf $ROOT/benches/sipp/acd_agent.xml -i 127.0.0.1 -p $UAS_PORT" | head -1 || true)
        [ -n "$UAS_PID" ] && break
        sleep 0.1
    done
    PIDS+=("$UAS_PID")
}
stop_uas() {
    kill "$UAS_PID" 2>/dev/null || true
    while kill -0 "$UAS_PID" 2>/dev/null; do sleep 0.1; done
}
start_sb() {
    rm -f "$WORK"/switchboard.db*
    "$SB" serve --config "$WORK/switchboard.toml" >>"$WORK/switchboard.log" 2>&1 &
    SB_PID=$!
    PIDS+=("$SB_PID")
    for _ in $(seq 100); do
        [ -S "$WORK/switchboard.ctl" ] && ss -lun | grep -q ":$SB_PORT " && break
        sleep 0.1
    done
}
stop_sb() {
    kill "$SB_PID" 2>/dev/null || true
    while kill -0 "$SB_PID" 2>/dev/null; do sleep 0.1; done
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$SB_PID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SB_PID/stat"; }
routing() {
    "$SB" queues --json --config "$WORK/switchboard.toml" >"$WORK/queues.json"
    python3 - "$WORK/queues.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["routing"]
print(f"{r['decisions']} decisions, p50 {r['p50_us']} us, p99 {r['p99_us']} us, max {r['max_us']} us")
PY
}
answered_records() {
    python3 - "$WORK/switchboard.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
rows = db.execute("SELECT disposition, count(*) FROM cdr GROUP BY disposition").fetchall()
print(" ".join(f"{d}={n}" for d, n in rows))
PY
}

# run_calls RATE CALLS -> 0 when every call completed
run_calls() {
    local rate=$1 calls=$2 stat=$3
    sipp -sf "$ROOT/benches/sipp/acd_caller.xml" -inf "$WORK/numbers.csv" "127.0.0.1:$SB_PORT" \
        -i 127.0.0.1 -p 0 -r "$rate" -m "$calls" -l $((rate * 10)) -nostdin \
        -timeout $((calls / rate + 60))s -timeout_error -trace_stat -stf "$stat" -fd 5 >/dev/null 2>&1
}

step() {
    local rate=$1 seconds=$2 calls=$(($1 * $2)) stat="$WORK/stat-$1.csv"
    start_uas
    start_sb
    local t0 c0 start end ok=FAILED
    c0=$(cpu_ticks)
    start=$(date +%s.%N)
    if [ "$SOAK" -gt 0 ]; then
        (while kill -0 "$SB_PID" 2>/dev/null; do echo "$(date +%s) $(rss)"; sleep 10; done) >"$WORK/rss.log" &
        PIDS+=("$!")
    fi
    if run_calls "$rate" "$calls" "$stat"; then ok=ok; fi
    end=$(date +%s.%N)
    # Records: the last calls' rows are committed before their tasks end; give the writer its
    # last batch.
    sleep 1
    local records cpu
    records=$(answered_records)
    cpu=$(echo "($(cpu_ticks) - $c0) / $(getconf CLK_TCK) / ($end - $start) * 100" | bc -l)
    printf 'rate %4s: %s, %s calls in %.1f s = %.0f cps; records: %s; routing: %s; switch CPU %.0f%% of a core, RSS %s KiB\n' \
        "$rate" "$ok" "$calls" "$(echo "$end - $start" | bc -l)" "$(echo "$calls / ($end - $start)" | bc -l)" \
        "$records" "$(routing)" "$cpu" "$(rss)"
    if [[ $records != "answered=$calls" ]]; then ok=FAILED; fi
    stop_sb
    stop_uas
    [ "$ok" = ok ]
}

echo "$AGENTS agents, $QUEUES queues, talk $TALK_MS ms, work dir $WORK"
if [ "$SOAK" -gt 0 ]; then
    step "$RATE" "$SOAK" || true
    echo "RSS over the run (KiB, every 10 s):"
    awk 'NR == 1 {t0 = $1} {printf "  %4d s %s\n", $1 - t0, $2}' "$WORK/rss.log"
    exit 0
fi
best=0
for rate in $RATES; do
    if step "$rate" "$STEP_SECONDS"; then best=$rate; else break; fi
    sleep 2
done
echo
echo "highest rate with zero lost calls (${STEP_SECONDS}s per step): $best queued-and-bridged calls/s"
