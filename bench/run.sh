#!/usr/bin/env bash
# Ingest benchmark: Threadline's API channel vs. the bare-insert ceiling, on
# SQLite (sync normal and full) and PostgreSQL; each provider's webhook
# format vs. the API channel in the same run; cold start and idle RSS.
#
#   bench/run.sh [seconds-per-run=20] [runs=3]
#   ONLY=webhooks bench/run.sh 20 3     # just the webhook comparison
#   ONLY=smtp bench/run.sh 20 3         # just inbound SMTP (10 KB bodies)
#   ONLY=ingest bench/run.sh 20 3       # just the API channel against the ceiling
#   ONLY=pages bench/run.sh 20 3        # the agent workspace on 100k conversations / 1M messages
#   ONLY=understand bench/run.sh 0 3    # triage (BANKING77), routing and the bot, in-process on one core
#   ONLY=privacy bench/run.sh 0 3       # a sign-in flood's memory, and a 10,000-message customer's export
#   ONLY=tracking bench/run.sh 20 3     # tracking calls through /v1/batch against a batch-insert ceiling
#   ONLY=track-rate bench/run.sh 20 3   # single /v1/track calls at 1,000/s (open loop), beside the ceiling at the same rate
#   ONLY=calls bench/run.sh 20 3        # voice calls' first webhook → TwiML at 200/s (open loop), beside the ceiling at the same rate
#   ONLY=waits bench/run.sh 60 1        # journey timers firing with 1,000,000 runs waiting (WAITING_RUNS to change)
#   ONLY=chaos bench/run.sh 0 1         # 10,000 customers through a journey's send, the server killed -9 ten times
#   ONLY=measurement bench/run.sh 20 3  # SQLite ingest with the reports' refresh job on and off, side by side
#   ONLY=dashboard bench/run.sh 0 1     # reports on a year of history: 1,000,000 conversations, 10,000,000 messages
#                                         (DASH_ENGINES=postgres for one engine)
#   ONLY=cluster bench/run.sh 20 3      # PostgreSQL + NATS: the API channel through HAProxy to one node and to three
#
# Every run uses a fresh database. Results go to bench/out/results.jsonl and
# a summary with medians is printed at the end (copy it to bench/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
RUNS=${2:-3}
CONCURRENCY=${CONCURRENCY:-64}
PG=${THREADLINE_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
NATS=${THREADLINE_BENCH_NATS_URL:-nats://127.0.0.1:4222}
OPERATOR=bench-operator-token

cargo build --release --locked -p threadline -p threadline-bench >&2
BIN=target/release/threadline
LOAD=target/release/threadline-bench
OUT=bench/out
mkdir -p "$OUT"
: > "$OUT/results.jsonl"

pids=()
# Databases made for this run, dropped at the end (a million-row one left
# behind keeps autovacuum busy through the next scenarios).
: > "$OUT/pg_databases"
cleanup() {
    for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done
    while read -r db; do psql -q -d "$PG" -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true; done < "$OUT/pg_databases"
}
trap cleanup EXIT

# start CMD... : runs a server whose first stdout line ends with its URL; sets $URL and $PID.
start() {
    local log=$1; shift
    "$@" > "$log" 2>"$log.err" &
    PID=$!
    pids+=("$PID")
    for _ in $(seq 1 200); do
        URL=$(grep -o 'http://[0-9.:]*' "$log" | head -1 || true)
        [ -n "$URL" ] && return 0
        sleep 0.05
    done
    echo "server did not start: $(cat "$log.err")" >&2
    exit 1
}

fresh_pg() {
    local name="threadline_bench_$(date +%s%N)"
    psql -q -d "$PG" -c "CREATE DATABASE $name" >/dev/null
    echo "$name" >> "$OUT/pg_databases"
    echo "${PG%/*}/$name"
}

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# bench_token BASE: creates the Bench account on a server; prints its admin's API token.
bench_token() {
    curl -sf -X POST "$1/api/v1/accounts" -H "authorization: Bearer $OPERATOR" -H 'content-type: application/json' \
        -d '{"name":"Bench","admin":{"email":"bench@example.com","name":"Bench","password":"correct horse battery"}}' | json '["token"]'
}

# api_inbox BASE TOKEN: creates an API-channel inbox; prints its id.
api_inbox() {
    curl -sf -X POST "$1/api/v1/inboxes" -H "authorization: Bearer $2" -H 'content-type: application/json' \
        -d '{"channel":"api","name":"bench"}' | json '["id"]'
}

record() { # scenario engine run json
    python3 - "$1" "$2" "$3" "$4" >> "$OUT/results.jsonl" <<'PY'
import json, sys
scenario, engine, run, data = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
data.update(scenario=scenario, engine=engine, run=run)
print(json.dumps(data))
PY
}

# The API channel on SQLite (sync normal) with the metrics refresh job
# running as configured (label `on`) or held off for the run (`off`: it runs
# once at start, then not for an hour): what measurement costs ingest.
measurement_run() { # run on|off
    local run=$1 mode=$2 data refresh=2
    data=$(mktemp -d)
    [ "$mode" = off ] && refresh=3600
    start "$data/serve.log" env THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_METRICS_REFRESH_SECS=$refresh THREADLINE_LOG=warn \
        "$BIN" --data "$data" serve --bind 127.0.0.1:0
    local server=$PID base=$URL created token inbox result
    token=$(bench_token "$base")
    inbox=$(api_inbox "$base" "$token")
    result=$("$LOAD" ingest --base "$base" --token "$token" --inbox "$inbox" --concurrency "$CONCURRENCY" --seconds "$SECS")
    record "measurement" "refresh-$mode" "$run" "$result"
    kill "$server"; wait "$server" 2>/dev/null || true
    rm -rf "$data"
}

# Several nodes on one PostgreSQL database and one NATS server, behind
# HAProxy (round robin, health-checked on /readyz): the API channel's
# throughput with one node and with three. On two cores shared with
# PostgreSQL, NATS, HAProxy and the load generator, more nodes cannot add
# capacity: this measures what running several costs.
cluster_run() { # run nodes
    local run=$1 nodes=$2 data url prefix servers="" port hp created token inbox result i
    data=$(mktemp -d)
    url=$(fresh_pg)
    prefix="bench$(date +%s%N)"
    local node_pids=()
    for i in $(seq 1 "$nodes"); do
        start "$data/serve$i.log" env DATABASE_URL="$url" THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_LOG=warn \
            THREADLINE_NATS_URL="$NATS" THREADLINE_NATS_PREFIX="$prefix" THREADLINE_NATS_STREAM="${prefix^^}" \
            THREADLINE_NATS_STREAM_MAX_AGE_HOURS=1 "$BIN" --data "$data" serve --bind 127.0.0.1:0
        node_pids+=("$PID")
        servers+="    server node$i ${URL#http://} check inter 1s"$'\n'
    done
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    printf 'global\n    maxconn 8192\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\nfrontend threadline\n    bind 127.0.0.1:%s\n    default_backend nodes\nbackend nodes\n    balance roundrobin\n    option httpchk GET /readyz\n%s' \
        "$port" "$servers" > "$data/haproxy.cfg"
    haproxy -db -f "$data/haproxy.cfg" >/dev/null 2>&1 &
    hp=$!
    pids+=("$hp")
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    local base="http://127.0.0.1:$port"
    token=$(bench_token "$base")
    inbox=$(api_inbox "$base" "$token")
    result=$("$LOAD" ingest --base "$base" --token "$token" --inbox "$inbox" --concurrency "$CONCURRENCY" --seconds "$SECS")
    record "cluster" "nodes-$nodes" "$run" "$result"
    kill "$hp" "${node_pids[@]}"; wait "$hp" "${node_pids[@]}" 2>/dev/null || true
    rm -rf "$data"
}

ingest_run() { # engine run sync
    local engine=$1 run=$2 sync=$3 data url
    data=$(mktemp -d)
    url=""
    [ "$engine" = postgres ] && url=$(fresh_pg)
    start "$data/serve.log" env DATABASE_URL="$url" THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_SQLITE_SYNC=$sync THREADLINE_LOG=warn \
        "$BIN" --data "$data" serve --bind 127.0.0.1:0
    local server=$PID base=$URL created token inbox
    token=$(bench_token "$base")
    inbox=$(api_inbox "$base" "$token")
    local result
    result=$("$LOAD" ingest --base "$base" --token "$token" --inbox "$inbox" --concurrency "$CONCURRENCY" --seconds "$SECS")
    record "ingest" "$engine-$sync" "$run" "$result"
    kill "$server"; wait "$server" 2>/dev/null || true

    # The ceiling: same stack, one bare INSERT per request, same engine and settings.
    [ "$engine" = postgres ] && url=$(fresh_pg) || url="sqlite://$data/ceiling.db?mode=rwc"
    start "$data/ceiling.log" "$LOAD" ceiling-server --database-url "$url" --sqlite-sync "$sync"
    local ceiling=$PID
    result=$("$LOAD" ceiling --base "$URL" --concurrency "$CONCURRENCY" --seconds "$SECS")
    record "ceiling" "$engine-$sync" "$run" "$result"
    kill "$ceiling"; wait "$ceiling" 2>/dev/null || true
    rm -rf "$data"
}

# The same traffic through each provider's webhook, signed as the provider
# signs it, against the API channel: each on a fresh server and database
# (SQLite, default sync), so none inherits another's data.
webhook_run() { # run format
    local run=$1 format=$2 data created token base result id channel settings secrets
    local meta='{"access_token":"x","app_secret":"bench-secret","verify_token":"v"}'
    case $format in
        api) channel=api settings='{}' secrets='{}' ;;
        twilio) channel=sms settings='{"account_sid":"ACbench0000000000000000000000000000","from":"+15005550006"}' secrets='{"auth_token":"bench-secret"}' ;;
        whatsapp) channel=whatsapp settings='{"phone_number_id":"106540352242922"}' secrets=$meta ;;
        messenger) channel=messenger settings='{"page_id":"103512345678901"}' secrets=$meta ;;
        telegram) channel=telegram settings='{}' secrets='{"bot_token":"1:x","webhook_secret":"bench-secret"}' ;;
    esac
    data=$(mktemp -d)
    start "$data/serve.log" env THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_LOG=warn "$BIN" --data "$data" serve --bind 127.0.0.1:0
    local server=$PID
    base=$URL
    token=$(bench_token "$base")
    created=$(curl -sf -X POST "$base/api/v1/inboxes" -H "authorization: Bearer $token" -H 'content-type: application/json' \
        -d "{\"channel\":\"$channel\",\"name\":\"$format\",\"settings\":$settings,\"secrets\":$secrets}")
    if [ "$format" = api ]; then
        id=$(echo "$created" | json '["id"]')
        result=$("$LOAD" ingest --base "$base" --token "$token" --inbox "$id" --concurrency "$CONCURRENCY" --seconds "$SECS")
    else
        result=$("$LOAD" webhook --url "$(echo "$created" | json '["webhook_url"]')" --format "$format" --secret bench-secret \
            --concurrency "$CONCURRENCY" --seconds "$SECS")
    fi
    record "webhook" "$format" "$run" "$result"
    kill "$server"; wait "$server" 2>/dev/null || true
    rm -rf "$data"
}

# Mail through the SMTP listener: 10 KB bodies, the same mix of new and
# returning customers, each message committed before its 250.
smtp_run() { # engine run
    local engine=$1 run=$2 data url port created token result
    data=$(mktemp -d)
    url=""
    [ "$engine" = postgres ] && url=$(fresh_pg)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    start "$data/serve.log" env DATABASE_URL="$url" THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_LOG=warn THREADLINE_SMTP_BIND=127.0.0.1:$port \
        "$BIN" --data "$data" serve --bind 127.0.0.1:0
    local server=$PID base=$URL
    token=$(bench_token "$base")
    curl -sf -X POST "$base/api/v1/inboxes" -H "authorization: Bearer $token" -H 'content-type: application/json' \
        -d '{"channel":"email","name":"mail","settings":{"address":"aiuto@bench.example"}}' >/dev/null
    result=$("$LOAD" smtp --addr "127.0.0.1:$port" --to aiuto@bench.example --body-bytes 10240 \
        --concurrency "${SMTP_CONCURRENCY:-32}" --seconds "$SECS")
    record "smtp" "$engine" "$run" "$result"
    kill "$server"; wait "$server" 2>/dev/null || true
    rm -rf "$data"
}

# The agent workspace on a large account: CONVERSATIONS conversations and
# MESSAGES messages seeded straight into the database (bench/loadgen/src/seed.rs),
# then each page fetched signed in, from one client and from two, with the
# workspace's script through the same server as the stack's floor; then the
# live path under LIVE_RATE new messages/s.
pages_run() { # engine run
    local engine=$1 run=$2 data url dburl created token inbox base result page
    data=$(mktemp -d)
    url=""
    [ "$engine" = postgres ] && url=$(fresh_pg)
    dburl=${url:-sqlite://$data/threadline.db?mode=rwc}
    start "$data/serve.log" env DATABASE_URL="$url" THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_LOG=warn \
        "$BIN" --data "$data" serve --bind 127.0.0.1:0
    local server=$PID
    base=$URL
    token=$(bench_token "$base")
    for channel in whatsapp sms email; do
        curl -sf -X POST "$base/api/v1/inboxes" -H "authorization: Bearer $token" -H 'content-type: application/json' \
            -d "{\"channel\":\"$channel\",\"name\":\"$channel\"}" >/dev/null
    done
    for agent in paolo emma sofia luca; do
        curl -sf -X POST "$base/api/v1/users" -H "authorization: Bearer $token" -H 'content-type: application/json' \
            -d "{\"email\":\"$agent@example.com\",\"name\":\"$agent\",\"role\":\"agent\"}" >/dev/null
    done
    kill "$server"; wait "$server" 2>/dev/null || true
    result=$("$LOAD" seed --database-url "$dburl" --conversations "${CONVERSATIONS:-100000}" --messages "${MESSAGES:-1000000}")
    record "seed" "$engine" "$run" "$result"
    start "$data/serve2.log" env DATABASE_URL="$url" THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_LOG=warn \
        "$BIN" --data "$data" serve --bind 127.0.0.1:0
    server=$PID
    base=$URL
    # One client: the time the server takes for a page. Two: both cores busy.
    for clients in 1 2; do
        for page in inbox search conversation asset; do
            result=$("$LOAD" pages --base "$base" --email bench@example.com --password "correct horse battery" --page "$page" \
                --database-url "$dburl" --concurrency "$clients" --seconds "$SECS")
            record "page-$page-$clients" "$engine" "$run" "$result"
        done
    done
    inbox=$(curl -sf -X POST "$base/api/v1/inboxes" -H "authorization: Bearer $token" -H 'content-type: application/json' \
        -d '{"channel":"api","name":"live"}' | json '["id"]')
    result=$("$LOAD" live --base "$base" --token "$token" --inbox "$inbox" --email bench@example.com --password "correct horse battery" \
        --rate "${LIVE_RATE:-1000}" --seconds "$SECS")
    record "live" "$engine" "$run" "$result"
    kill "$server"; wait "$server" 2>/dev/null || true
    rm -rf "$data"
}

# Reports on a year of history: DASH_CONVERSATIONS conversations and
# DASH_MESSAGES messages over 12 months seeded with their measured facts
# (bench/loadgen/src/seed.rs), the roll-up job left to store the days
# (timed), then each dashboard request fetched DASH_ROUNDS times in turn
# for the last 12 months and the last 30 days, through the API and as the
# workspace page, beside the cheapest signed-in request (the stack's
# floor); then the 12-month conversation export streamed while the
# server's memory is sampled.
dashboard_run() { # engine run
    local engine=$1 run=$2 data url dburl created token base result started stored from12 from30 to today
    data=$(mktemp -d)
    url=""
    [ "$engine" = postgres ] && url=$(fresh_pg)
    dburl=${url:-sqlite://$data/threadline.db?mode=rwc}
    start "$data/serve.log" env DATABASE_URL="$url" THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_LOG=warn \
        "$BIN" --data "$data" serve --bind 127.0.0.1:0
    local server=$PID
    base=$URL
    token=$(bench_token "$base")
    for channel in whatsapp sms email web_chat telegram; do
        curl -sf -X POST "$base/api/v1/inboxes" -H "authorization: Bearer $token" -H 'content-type: application/json' \
            -d "{\"channel\":\"$channel\",\"name\":\"$channel\"}" >/dev/null
    done
    for team in Vendite Resi Assistenza; do
        curl -sf -X POST "$base/api/v1/teams" -H "authorization: Bearer $token" -H 'content-type: application/json' \
            -d "{\"name\":\"$team\"}" >/dev/null
    done
    for agent in paolo emma sofia luca giulia marco; do
        curl -sf -X POST "$base/api/v1/users" -H "authorization: Bearer $token" -H 'content-type: application/json' \
            -d "{\"email\":\"$agent@example.com\",\"name\":\"$agent\",\"role\":\"agent\"}" >/dev/null
    done
    kill "$server"; wait "$server" 2>/dev/null || true
    # SQLite's full-text index makes seeding 10,000,000 messages slow
    # (about 50 minutes here): DASH_SQLITE_MESSAGES can seed fewer there.
    local messages=${DASH_MESSAGES:-10000000}
    [ "$engine" = sqlite ] && messages=${DASH_SQLITE_MESSAGES:-$messages}
    result=$("$LOAD" seed --database-url "$dburl" --conversations "${DASH_CONVERSATIONS:-1000000}" --messages "$messages" \
        --months 12 --measured)
    record "dashboard-seed" "$engine" "$run" "$result"
    today=$(date -u +%Y-%m-%d)
    from12=$(date -u -d "$today - 365 days" +%Y-%m-%dT00:00:00Z)
    from30=$(date -u -d "$today - 30 days" +%Y-%m-%dT00:00:00Z)
    to="${today}T00:00:00Z"
    started=$(date +%s.%N)
    start "$data/serve2.log" env DATABASE_URL="$url" THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_LOG=warn \
        "$BIN" --data "$data" serve --bind 127.0.0.1:0
    server=$PID
    base=$URL
    # The roll-up job stores the year's days in the background: wait until
    # the 12-month summary reads every day stored.
    for _ in $(seq 1 1800); do
        stored=$(curl -sf "$base/api/v1/reports/summary?from=$from12&to=$to" -H "authorization: Bearer $token" | json '["freshness"]["stored_days"]' || echo 0)
        [ "$stored" -ge 365 ] && break
        sleep 1
    done
    # Then the spans of stored days (merged after the days): wait until
    # their count has held for 10 s.
    local spans=-1 held=0 now_spans
    for _ in $(seq 1 600); do
        if [ "$engine" = postgres ]; then
            now_spans=$(psql -Atq -d "$url" -c "SELECT COUNT(*) FROM metrics_rollups WHERE dim = 'whole_span'")
        else
            now_spans=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT COUNT(*) FROM metrics_rollups WHERE dim = 'whole_span'\").fetchone()[0])" "$data/threadline.db")
        fi
        if [ "$now_spans" = "$spans" ] && [ "$now_spans" -gt 0 ]; then held=$((held + 1)); else held=0; fi
        spans=$now_spans
        [ "$held" -ge 10 ] && break
        sleep 1
    done
    record "dashboard-rollup" "$engine" "$run" "{\"seconds\": $(python3 -c "import time; print(round(time.time() - $started, 1))"), \"stored_days\": $stored, \"spans\": $spans}"
    for period in 12m 30d; do
        local from=$from12 first=${from12%T*}
        [ "$period" = 30d ] && from=$from30 && first=${from30%T*}
        local last
        last=$(date -u -d "$today - 1 day" +%Y-%m-%d)
        local q="from=$from&to=$to"
        result=$("$LOAD" dashboard --base "$base" --token "$token" --rounds "${DASH_ROUNDS:-30}" \
            "/api/v1/reports/summary?$q" "/api/v1/reports/volume?$q&by=channel" "/api/v1/reports/volume?$q&by=hour_of_week&tz=Europe/Rome" \
            "/api/v1/reports/channels?$q" "/api/v1/reports/summary?$q&team_id=$(curl -sf "$base/api/v1/teams" -H "authorization: Bearer $token" | json '[0]["id"]')")
        record "dashboard-api-$period" "$engine" "$run" "$result"
        result=$("$LOAD" dashboard --base "$base" --token "$token" --email bench@example.com --password "correct horse battery" \
            --rounds "${DASH_ROUNDS:-30}" "/reports?from=$first&to=$last" "/reports?view=teams&from=$first&to=$last")
        record "dashboard-page-$period" "$engine" "$run" "$result"
        # The views with workload and cost (stored per day like the rest).
        result=$("$LOAD" dashboard --base "$base" --token "$token" --email bench@example.com --password "correct horse battery" \
            --rounds "${DASH_ROUNDS:-30}" "/reports?view=channels&from=$first&to=$last" "/reports?view=agents&from=$first&to=$last")
        record "dashboard-work-$period" "$engine" "$run" "$result"
    done
    result=$("$LOAD" dashboard --base "$base" --token "$token" --rounds "${DASH_ROUNDS:-30}" "/api/v1/teams")
    record "dashboard-floor" "$engine" "$run" "$result"
    result=$("$LOAD" report-export --base "$base" --token "$token" --pid "$server" --path "/api/v1/reports/conversations?from=$from12&to=$to")
    record "dashboard-export" "$engine" "$run" "$result"
    kill "$server"; wait "$server" 2>/dev/null || true
    rm -rf "$data"
}

# Triage, routing and the bot in-process, on one core (taskset), with the
# ceiling each measures beside itself. BANKING77 comes from beside the
# repository (THREADLINE_TEST_DATASETS, as for the tests).
understand_run() { # run
    local run=$1 result datasets=${THREADLINE_TEST_DATASETS:-$PWD/../shared/datasets}
    [ -f "$datasets/banking77/train.csv" ] || datasets=/work/shared/datasets
    result=$(taskset -c 0 "$LOAD" classify --dataset "$datasets/banking77" --rounds 5)
    record "classify" "in-process" "$run" "$result"
    result=$(taskset -c 0 "$LOAD" route --agents 1000 --waiting 10000 --decisions 2000)
    record "route" "in-process" "$run" "$result"
    result=$(taskset -c 0 "$LOAD" bot --articles 10000 --queries 2000)
    record "bot" "in-process" "$run" "$result"
}

# A sign-in flood: 1,000 wrong passwords from one address, then from 200,
# while a real user signs in from another; the server's RSS sampled all
# along. Then one customer with 10,000 messages, and their export.
privacy_run() { # engine run
    local engine=$1 run=$2 data url created token inbox result
    data=$(mktemp -d)
    url=""
    [ "$engine" = postgres ] && url=$(fresh_pg)
    for addresses in 1 200; do
        start "$data/serve-$addresses.log" env DATABASE_URL="$url" THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_LOG=warn \
            "$BIN" --data "$data/$addresses" serve --bind 127.0.0.1:0
        local server=$PID base=$URL
        created=$(curl -sf -X POST "$base/api/v1/accounts" -H "authorization: Bearer $OPERATOR" -H 'content-type: application/json' \
            -d "{\"name\":\"Flood $addresses\",\"admin\":{\"email\":\"boss$addresses@example.com\",\"name\":\"Boss\",\"password\":\"correct horse battery\"}}")
        token=$(echo "$created" | json '["token"]')
        curl -sf -X POST "$base/api/v1/users" -H "authorization: Bearer $token" -H 'content-type: application/json' \
            -d "{\"email\":\"anna$addresses@example.com\",\"name\":\"Anna\",\"role\":\"agent\",\"password\":\"anna's long password\"}" >/dev/null
        sleep 2
        result=$("$LOAD" sign-in-flood --base "$base" --pid "$server" --target "boss$addresses@example.com" \
            --email "anna$addresses@example.com" --password "anna's long password" --attempts 1000 --concurrency 32 --addresses "$addresses")
        record "sign-in-flood-$addresses" "$engine" "$run" "$result"
        kill "$server"; wait "$server" 2>/dev/null || true
    done
    start "$data/serve-export.log" env DATABASE_URL="$url" THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_LOG=warn \
        "$BIN" --data "$data/export" serve --bind 127.0.0.1:0
    local server=$PID base=$URL
    created=$(curl -sf -X POST "$base/api/v1/accounts" -H "authorization: Bearer $OPERATOR" -H 'content-type: application/json' \
        -d '{"name":"Export","admin":{"email":"export@example.com","name":"Export","password":"correct horse battery"}}')
    token=$(echo "$created" | json '["token"]')
    inbox=$(curl -sf -X POST "$base/api/v1/inboxes" -H "authorization: Bearer $token" -H 'content-type: application/json' \
        -d '{"channel":"api","name":"shop"}' | json '["id"]')
    result=$("$LOAD" export --base "$base" --token "$token" --inbox "$inbox" --messages 10000)
    record "export" "$engine" "$run" "$result"
    kill "$server"; wait "$server" 2>/dev/null || true
    rm -rf "$data"
}

# Tracking calls through /v1/batch (100 calls a request), against the
# ceiling server inserting the same batches as rows in one transaction.
tracking_run() { # engine run
    local engine=$1 run=$2 data url created token key result
    data=$(mktemp -d)
    url=""
    [ "$engine" = postgres ] && url=$(fresh_pg)
    start "$data/serve.log" env DATABASE_URL="$url" THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_LOG=warn \
        "$BIN" --data "$data" serve --bind 127.0.0.1:0
    local server=$PID base=$URL
    token=$(bench_token "$base")
    key=$(curl -sf -X POST "$base/api/v1/tracking/sources" -H "authorization: Bearer $token" -H 'content-type: application/json' \
        -d '{"name":"bench","kind":"server"}' | json '["write_key"]')
    result=$("$LOAD" tracking --base "$base" --key "$key" --concurrency 16 --seconds "$SECS")
    record "tracking" "$engine" "$run" "$result"
    kill "$server"; wait "$server" 2>/dev/null || true
    [ "$engine" = postgres ] && url=$(fresh_pg) || url="sqlite://$data/ceiling.db?mode=rwc"
    start "$data/ceiling.log" "$LOAD" ceiling-server --database-url "$url"
    local ceiling=$PID
    result=$("$LOAD" ceiling-batch --base "$URL" --concurrency 16 --seconds "$SECS")
    record "tracking-ceiling" "$engine" "$run" "$result"
    kill "$ceiling"; wait "$ceiling" 2>/dev/null || true
    rm -rf "$data"
}

# Calls at a fixed rate (CALL_RATE, default 200/s), open loop: each its
# signed first webhook to a voice inbox with a two-language IVR, answered
# with TwiML (a customer found or created, the call's conversation and row
# written). Then the ceiling server at the same rate, one insert each.
call_rate_run() { # engine run
    local engine=$1 run=$2 data url token inbox hook result rate=${CALL_RATE:-200}
    data=$(mktemp -d)
    url=""
    [ "$engine" = postgres ] && url=$(fresh_pg)
    start "$data/serve.log" env DATABASE_URL="$url" THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_LOG=warn \
        "$BIN" --data "$data" serve --bind 127.0.0.1:0
    local server=$PID base=$URL
    token=$(bench_token "$base")
    inbox=$(curl -sf -X POST "$base/api/v1/inboxes" -H "authorization: Bearer $token" -H 'content-type: application/json' \
        -d '{"channel":"voice","name":"bench","settings":{"account_sid":"ACbench0000000000000000000000000000","from":"+390212345678",
             "ivr":{"languages":["it","en"],"greeting":{"it":"Benvenuto.","en":"Welcome."},
                    "menu":[{"digit":"1","label":{"it":"Per gli ordini","en":"For orders"},"words":{"it":["ordine"],"en":["order"]}}]}},
             "secrets":{"auth_token":"bench-token"}}')
    hook=$(echo "$inbox" | json '["webhook_url"]')
    result=$("$LOAD" call-rate --url "$hook" --auth-token bench-token --rate "$rate" --seconds "$SECS")
    record "call-rate" "$engine" "$run" "$result"
    kill "$server"; wait "$server" 2>/dev/null || true
    [ "$engine" = postgres ] && url=$(fresh_pg) || url="sqlite://$data/ceiling.db?mode=rwc"
    start "$data/ceiling.log" "$LOAD" ceiling-server --database-url "$url"
    local ceiling=$PID
    result=$("$LOAD" call-rate --url "$URL/insert" --ceiling --rate "$rate" --seconds "$SECS")
    record "call-rate-ceiling" "$engine" "$run" "$result"
    kill "$ceiling"; wait "$ceiling" 2>/dev/null || true
    rm -rf "$data"
}

# Single tracking calls at a fixed rate (TRACK_RATE, default 1,000/s),
# open loop: latency from each call's due time. Then the ceiling server at
# the same rate, each call a one-row batch.
track_rate_run() { # engine run
    local engine=$1 run=$2 data url created token key result rate=${TRACK_RATE:-1000}
    data=$(mktemp -d)
    url=""
    [ "$engine" = postgres ] && url=$(fresh_pg)
    start "$data/serve.log" env DATABASE_URL="$url" THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_LOG=warn \
        "$BIN" --data "$data" serve --bind 127.0.0.1:0
    local server=$PID base=$URL
    token=$(bench_token "$base")
    key=$(curl -sf -X POST "$base/api/v1/tracking/sources" -H "authorization: Bearer $token" -H 'content-type: application/json' \
        -d '{"name":"bench","kind":"server"}' | json '["write_key"]')
    result=$("$LOAD" track-rate --url "$base" --key "$key" --rate "$rate" --seconds "$SECS")
    record "track-rate" "$engine" "$run" "$result"
    kill "$server"; wait "$server" 2>/dev/null || true
    [ "$engine" = postgres ] && url=$(fresh_pg) || url="sqlite://$data/ceiling.db?mode=rwc"
    start "$data/ceiling.log" "$LOAD" ceiling-server --database-url "$url"
    local ceiling=$PID
    result=$("$LOAD" track-rate --url "$URL/insert-batch" --batch --rate "$rate" --seconds "$SECS")
    record "track-rate-ceiling" "$engine" "$run" "$result"
    kill "$ceiling"; wait "$ceiling" 2>/dev/null || true
    rm -rf "$data"
}

# Journey timers with many runs waiting: WAITING_RUNS (default 1,000,000)
# runs of a live journey wait in the database, COHORT (default 20,000) of
# them fall due over $SECS seconds starting 20 s after the seeding, the rest
# a month on. The server starts, and the lateness of each of the cohort's
# timers (its wait step's execution against its due time) is read after.
# The server's RSS is sampled every second.
waits_run() { # engine run
    local engine=$1 run=$2 data url created seeded journey result rss_peak=0 rss
    local runs=${WAITING_RUNS:-1000000} cohort=${COHORT:-20000}
    data=$(mktemp -d)
    url=""
    [ "$engine" = postgres ] && url=$(fresh_pg)
    start "$data/serve.log" env DATABASE_URL="$url" THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_LOG=warn \
        "$BIN" --data "$data" serve --bind 127.0.0.1:0
    local server=$PID base=$URL
    created=$(curl -sf -X POST "$base/api/v1/accounts" -H "authorization: Bearer $OPERATOR" -H 'content-type: application/json' \
        -d '{"name":"Bench","admin":{"email":"bench@example.com","name":"Bench","password":"correct horse battery"}}')
    kill "$server"; wait "$server" 2>/dev/null || true
    [ "$engine" = postgres ] || url="sqlite://$data/threadline.db"
    seeded=$("$LOAD" seed-waiting-runs --database-url "$url" --runs "$runs" --cohort "$cohort" --lead 20 --window "$SECS")
    journey=$(echo "$seeded" | json '["journey"]')
    [ "$engine" = postgres ] || url=""
    start "$data/serve2.log" env DATABASE_URL="$url" THREADLINE_ADMIN_TOKEN=$OPERATOR THREADLINE_LOG=warn \
        "$BIN" --data "$data" serve --bind 127.0.0.1:0
    server=$PID
    [ "$engine" = postgres ] || url="sqlite://$data/threadline.db"
    ( while kill -0 "$server" 2>/dev/null; do
          awk '/VmRSS/ { print $2 }' "/proc/$server/status" 2>/dev/null; sleep 1
      done ) > "$data/rss" &
    local sampler=$!
    result=$("$LOAD" lateness --database-url "$url" --journey "$journey" --cohort "$cohort" --timeout $((SECS + 600)))
    rss=$(awk '/VmRSS/ { print $2 }' "/proc/$server/status")
    kill "$server"; wait "$server" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    rss_peak=$(sort -n "$data/rss" | tail -1)
    result=$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); s=json.loads(sys.argv[2]); d.update(waiting=s['runs'], cohort=s['cohort'], window_secs=s['window_secs'], seed_secs=round(s['seed_secs'],1), rss_end_mb=round(int(sys.argv[3])/1024,1), rss_peak_mb=round(int(sys.argv[4] or 0)/1024,1)); print(json.dumps(d))" "$result" "$seeded" "$rss" "$rss_peak")
    record "waits" "$engine" "$run" "$result"
    # A million rows left behind would keep autovacuum busy in the next run.
    [ "$engine" = postgres ] && psql -q -d "$PG" -c "DROP DATABASE IF EXISTS \"${url##*/}\"" >/dev/null
    rm -rf "$data"
}

# The journey chaos test at scale: CHAOS_CUSTOMERS (default 10,000)
# customers enter a journey that sends each an SMS while the server is
# killed -9 CHAOS_KILLS (default 10) times at random moments; the test
# prints what it counted (messages per customer, sends per number) before
# checking that none was lost or doubled.
chaos_run() { # engine run
    local engine=$1 run=$2 log result
    log=$(mktemp)
    if THREADLINE_CHAOS_CUSTOMERS=${CHAOS_CUSTOMERS:-10000} THREADLINE_CHAOS_KILLS=${CHAOS_KILLS:-10} \
        THREADLINE_TEST_DATABASE_URL=$PG cargo test --release --locked -q -p threadline --test cli \
        "journey_chaos::kill_minus_nine_mid_journey_on_$engine" -- --exact --nocapture > "$log" 2>&1; then
        result=$(grep -o 'chaos-result .*' "$log" | head -1 | cut -d' ' -f2-)
        record "chaos" "$engine" "$run" "$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); d['passed']=True; print(json.dumps(d))" "$result")"
    else
        echo "chaos on $engine failed:" >&2; tail -30 "$log" >&2
        result=$(grep -o 'chaos-result .*' "$log" | head -1 | cut -d' ' -f2- || true)
        record "chaos" "$engine" "$run" "$(python3 -c "import json,sys; d=json.loads(sys.argv[1] or '{}'); d['passed']=False; print(json.dumps(d))" "$result")"
    fi
    rm -f "$log"
}

for run in $(seq 1 "$RUNS"); do
    echo "run $run/$RUNS" >&2
    if [ "${ONLY:-}" = privacy ]; then
        privacy_run sqlite "$run"
        privacy_run postgres "$run"
        continue
    fi
    if [ "${ONLY:-}" = understand ]; then
        understand_run "$run"
        continue
    fi
    if [ "${ONLY:-}" = track-rate ]; then
        track_rate_run sqlite "$run"
        track_rate_run postgres "$run"
        continue
    fi
    if [ "${ONLY:-}" = calls ]; then
        call_rate_run sqlite "$run"
        call_rate_run postgres "$run"
        continue
    fi
    if [ "${ONLY:-}" = chaos ]; then
        chaos_run sqlite "$run"
        chaos_run postgres "$run"
        continue
    fi
    if [ "${ONLY:-}" = waits ]; then
        waits_run sqlite "$run"
        waits_run postgres "$run"
        continue
    fi
    if [ "${ONLY:-}" = tracking ]; then
        tracking_run sqlite "$run"
        tracking_run postgres "$run"
        continue
    fi
    if [ -z "${ONLY:-}" ] || [ "${ONLY:-}" = smtp ]; then
        smtp_run sqlite "$run"
        smtp_run postgres "$run"
    fi
    if [ "${ONLY:-}" = pages ]; then
        pages_run sqlite "$run"
        pages_run postgres "$run"
        continue
    fi
    if [ "${ONLY:-}" = smtp ]; then continue; fi
    if [ "${ONLY:-}" = dashboard ]; then
        for engine in ${DASH_ENGINES:-sqlite postgres}; do dashboard_run "$engine" "$run"; done
        continue
    fi
    if [ "${ONLY:-}" = measurement ]; then
        measurement_run "$run" on
        measurement_run "$run" off
        continue
    fi
    if [ "${ONLY:-}" = cluster ]; then
        ingest_run postgres "$run" normal
        cluster_run "$run" 1
        cluster_run "$run" 3
        continue
    fi
    if [ "${ONLY:-}" = ingest ]; then
        ingest_run sqlite "$run" normal
        ingest_run sqlite "$run" full
        ingest_run postgres "$run" normal
        continue
    fi
    if [ "${ONLY:-}" != webhooks ]; then
        ingest_run sqlite "$run" normal
        ingest_run sqlite "$run" full
        ingest_run postgres "$run" normal
    fi
    for format in api twilio whatsapp messenger telegram; do
        webhook_run "$run" "$format"
    done
done
if [ -n "${ONLY:-}" ]; then SKIP_STARTUP=1; fi

# Cold start (spawn → /healthz answers, on an existing database) and idle RSS.
if [ -z "${SKIP_STARTUP:-}" ]; then
data=$(mktemp -d)
"$BIN" --data "$data" migrate >/dev/null 2>&1
python3 - "$BIN" "$data" >> "$OUT/results.jsonl" <<'PY'
import json, subprocess, sys, time, urllib.request, socket
binary, data = sys.argv[1], sys.argv[2]
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
for run in range(1, 8):
    port = free_port()
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "--data", data, "serve", "--bind", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={"THREADLINE_LOG": "warn"})
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read(); break
        except Exception:
            time.sleep(0.002)
    ms = (time.perf_counter() - t0) * 1000
    time.sleep(2)
    status = {l.split(":")[0]: int(l.split()[1]) / 1024 for l in open(f"/proc/{p.pid}/status") if l.startswith(("VmRSS", "RssAnon", "RssFile"))}
    p.terminate(); p.wait()
    # RssFile is mostly the binary's own code pages (clean, shared, given
    # back under memory pressure); RssAnon is the process's own memory.
    print(json.dumps({"scenario": "startup", "engine": "sqlite", "run": run, "cold_start_ms": round(ms, 1), "idle_rss_mb": round(status["VmRSS"], 1),
                      "idle_rss_anon_mb": round(status["RssAnon"], 1), "idle_rss_file_mb": round(status["RssFile"], 1)}))
PY
rm -rf "$data"
fi

python3 - "$OUT/results.jsonl" <<'PY'
import json, re, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(scenario, engine, key):
    v = [r[key] for r in rows if r["scenario"] == scenario and r["engine"] == engine and key in r]
    return statistics.median(v) if v else None
print("| engine | Threadline msg/s | p50 ms | p99 ms | ceiling inserts/s | ceiling p99 ms | ratio | errors |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for engine in sorted({r["engine"] for r in rows if r["scenario"] == "ingest"}):
    t, c = med("ingest", engine, "per_second"), med("ceiling", engine, "per_second")
    errors = sum(r["errors"] for r in rows if r["scenario"] == "ingest" and r["engine"] == engine)
    print(f"| {engine} | {t:,.0f} | {med('ingest', engine, 'p50_ms'):.2f} | {med('ingest', engine, 'p99_ms'):.2f} | {c:,.0f} | {med('ceiling', engine, 'p99_ms'):.2f} | {t / c:.0%} | {errors} |")
if med("cluster", "nodes-1", "per_second"):
    print()
    print("| PostgreSQL + NATS | msg/s | p50 ms | p99 ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for n in [1, 3]:
        e = f"nodes-{n}"
        errors = sum(r["errors"] for r in rows if r["scenario"] == "cluster" and r["engine"] == e)
        print(f"| {n} node(s) behind HAProxy | {med('cluster', e, 'per_second'):,.0f} | {med('cluster', e, 'p50_ms'):.2f} | {med('cluster', e, 'p99_ms'):.2f} | {errors} |")
on, off = med("measurement", "refresh-on", "per_second"), med("measurement", "refresh-off", "per_second")
if on and off:
    print()
    print("| SQLite ingest | msg/s | p50 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: |")
    for mode in ["on", "off"]:
        e = f"refresh-{mode}"
        print(f"| metrics refresh {mode} | {med('measurement', e, 'per_second'):,.0f} | {med('measurement', e, 'p50_ms'):.2f} | {med('measurement', e, 'p99_ms'):.2f} |")
    print(f"measurement costs {1 - on / off:.1%} of ingest throughput")
dash = [e for e in ["sqlite", "postgres"] if med("dashboard-api-12m", e, "p99_ms") is not None]
if dash:
    print()
    print("| engine | what | period | p50 ms | p99 ms | max ms |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for e in dash:
        for what, label in [("api", "api"), ("page", "page"), ("work", "pages with workload and cost (channels, agents)")]:
            for period in ["12m", "30d"]:
                s = f"dashboard-{what}-{period}"
                if med(s, e, "p50_ms") is not None:
                    print(f"| {e} | {label} | {period} | {med(s, e, 'p50_ms'):.1f} | {med(s, e, 'p99_ms'):.1f} | {med(s, e, 'max_ms'):.1f} |")
        print(f"| {e} | floor (GET /api/v1/teams) | — | {med('dashboard-floor', e, 'p50_ms'):.1f} | {med('dashboard-floor', e, 'p99_ms'):.1f} | {med('dashboard-floor', e, 'max_ms'):.1f} |")
    for e in dash:
        for r in [r for r in rows if r["scenario"].split("-")[0] == "dashboard" and "paths" in r]:
            if r["engine"] == e:
                for p in r["paths"]:
                    path = re.sub(r"from=[^&]*&to=[^&]*&?", "", p["path"]).rstrip("?&")
                    print(f"  {e} {r['scenario']} {path}: p50 {p['p50_ms']:.1f} ms, p99 {p['p99_ms']:.1f} ms")
        seed = [r for r in rows if r["scenario"] == "dashboard-seed" and r["engine"] == e]
        roll = [r for r in rows if r["scenario"] == "dashboard-rollup" and r["engine"] == e]
        exp = [r for r in rows if r["scenario"] == "dashboard-export" and r["engine"] == e]
        for r in seed: print(f"  {e} seeded {r['conversations']:,} conversations, {r['messages']:,} messages in {r['seconds']:.0f} s")
        for r in roll: print(f"  {e} roll-up of {r['stored_days']} days: {r['seconds']} s after start")
        for r in exp: print(f"  {e} export: {r['rows']:,} rows, {r['megabytes']:.0f} MB in {r['seconds']:.1f} s, RSS {r['rss_before_mb']:.0f} -> {r['rss_peak_mb']:.0f} MB")
api = med("webhook", "api", "per_second")
if api:
    print()
    print("| channel | msg/s | p50 ms | p99 ms | vs. API channel | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for fmt in ["api", "twilio", "whatsapp", "messenger", "telegram"]:
        t = med("webhook", fmt, "per_second")
        errors = sum(r["errors"] for r in rows if r["scenario"] == "webhook" and r["engine"] == fmt)
        print(f"| {fmt} | {t:,.0f} | {med('webhook', fmt, 'p50_ms'):.2f} | {med('webhook', fmt, 'p99_ms'):.2f} | {t / api:.0%} | {errors} |")
smtp = [e for e in ["sqlite", "postgres"] if med("smtp", e, "per_second")]
if smtp:
    print()
    print("| engine | SMTP msg/s (10 KB) | p50 ms | p99 ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for e in smtp:
        errors = sum(r["errors"] for r in rows if r["scenario"] == "smtp" and r["engine"] == e)
        print(f"| {e} | {med('smtp', e, 'per_second'):,.0f} | {med('smtp', e, 'p50_ms'):.2f} | {med('smtp', e, 'p99_ms'):.2f} | {errors} |")
pages = [e for e in ["sqlite", "postgres"] if med("page-inbox-1", e, "p99_ms") is not None]
if pages:
    print()
    print("| engine | page | clients | pages/s | p50 ms | p99 ms | KB | p99 vs. the script (floor) | errors |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for e in pages:
        for clients in [1, 2]:
            floor = med(f"page-asset-{clients}", e, "p99_ms")
            for page in ["inbox", "search", "conversation", "asset"]:
                s = f"page-{page}-{clients}"
                errors = sum(r["errors"] for r in rows if r["scenario"] == s and r["engine"] == e)
                p99 = med(s, e, "p99_ms")
                print(f"| {e} | {page} | {clients} | {med(s, e, 'per_second'):,.0f} | {med(s, e, 'p50_ms'):.2f} | {p99:.2f} | {med(s, e, 'median_bytes') / 1024:.1f} | {p99 / floor:.0f}× | {errors} |")
    print()
    print("| engine | live rate asked | achieved msg/s | ack → notice p50 / p99 ms | ack → inbox refetched p50 / p99 ms | never shown | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for e in pages:
        never = sum(r["never_shown"] for r in rows if r["scenario"] == "live" and r["engine"] == e)
        errors = sum(r["errors"] for r in rows if r["scenario"] == "live" and r["engine"] == e)
        print(f"| {e} | {med('live', e, 'rate'):,.0f} | {med('live', e, 'achieved_per_second'):,.0f} | {med('live', e, 'notice_p50_ms'):.1f} / {med('live', e, 'notice_p99_ms'):.1f} | {med('live', e, 'shown_p50_ms'):.1f} / {med('live', e, 'shown_p99_ms'):.1f} | {never} | {errors} |")
if med("classify", "in-process", "accuracy") is not None:
    m = lambda s, k: med(s, "in-process", k)
    print()
    print(f"BANKING77 test accuracy {m('classify', 'accuracy'):.1%}; messages/s on one core: model {m('classify', 'model_per_second'):,.0f}, "
          f"whole triage {m('classify', 'triage_per_second'):,.0f} ({m('classify', 'triage_with_default_rules_per_second'):,.0f} with the default rules), "
          f"splitting words only {m('classify', 'words_per_second'):,.0f}")
    routes = [r for r in rows if r["scenario"] == "route"]
    for strategy in ["round_robin", "least_busy", "skills"]:
        p = lambda k: statistics.median(r[strategy][k] for r in routes)
        print(f"routing {strategy}: decision p50 {p('decision_p50_ms'):.3f} ms, p99 {p('decision_p99_ms'):.3f} ms; bare scan p99 {p('scan_p99_ms'):.3f} ms; "
              f"a pass over the queue {p('pass_ms'):.0f} ms ({p('pass_assigned'):.0f} assigned)")
    print(f"bot answer with 10,000 articles: p50 {m('bot', 'answer_p50_ms'):.3f} ms, p99 {m('bot', 'answer_p99_ms'):.3f} ms; "
          f"single-term search p99 {m('bot', 'single_term_p99_ms'):.3f} ms")
for e in ["sqlite", "postgres"]:
    for n in [1, 200]:
        s = f"sign-in-flood-{n}"
        if med(s, e, "rss_peak_mb") is None:
            continue
        statuses = [r["statuses"] for r in rows if r["scenario"] == s and r["engine"] == e]
        print(f"{e}: 1,000 wrong sign-ins from {n} address(es): RSS {med(s, e, 'rss_before_mb'):.1f} MB before, peak {med(s, e, 'rss_peak_mb'):.1f} MB, "
              f"{med(s, e, 'rss_after_10s_mb'):.1f} MB 10 s after; flood {med(s, e, 'flood_seconds'):.1f} s; answers {statuses[-1]}; "
              f"another user meanwhile: {sum(r['user_sign_ins_ok'] for r in rows if r['scenario'] == s and r['engine'] == e)} sign-ins ok, "
              f"{sum(r['user_sign_ins_failed'] for r in rows if r['scenario'] == s and r['engine'] == e)} failed, p99 {med(s, e, 'user_sign_in_p99_ms'):.0f} ms")
    if med("export", e, "export_seconds") is not None:
        print(f"{e}: export of a customer with 10,000 messages (100 files): {med('export', e, 'export_seconds'):.2f} s, {med('export', e, 'zip_bytes') / 1e6:.1f} MB zip")
for e in ["sqlite", "postgres"]:
    t, c = med("tracking", e, "events_per_second"), med("tracking-ceiling", e, "events_per_second")
    if t is not None and c:
        print(f"{e}: tracking through /v1/batch (100 calls a request): {t:,.0f} events/s, p50 {med('tracking', e, 'p50_ms'):.1f} ms, "
              f"p99 {med('tracking', e, 'p99_ms'):.1f} ms; ceiling {c:,.0f} events/s; ratio {t / c:.0%}; "
              f"errors {sum(r['errors'] for r in rows if r['scenario'] == 'tracking' and r['engine'] == e)}")
for e in ["sqlite", "postgres"]:
    t, c = med("track-rate", e, "p99_ms"), med("track-rate-ceiling", e, "p99_ms")
    if t is not None and c:
        print(f"{e}: single /v1/track at {med('track-rate', e, 'rate'):,.0f}/s (open loop): p50 {med('track-rate', e, 'p50_ms'):.1f} ms, "
              f"p99 {t:.1f} ms, max {med('track-rate', e, 'max_ms'):.0f} ms; ceiling at the same rate p50 {med('track-rate-ceiling', e, 'p50_ms'):.1f} ms, "
              f"p99 {c:.1f} ms; errors {sum(r['errors'] for r in rows if r['scenario'] == 'track-rate' and r['engine'] == e)}")
for e in ["sqlite", "postgres"]:
    if med("waits", e, "p99_ms") is not None:
        print(f"{e}: {med('waits', e, 'waiting'):,.0f} runs waiting, {med('waits', e, 'cohort'):,.0f} timers due over {med('waits', e, 'window_secs'):.0f} s: "
              f"lateness p50 {med('waits', e, 'p50_ms') / 1000:.2f} s, p99 {med('waits', e, 'p99_ms') / 1000:.2f} s, max {med('waits', e, 'max_ms') / 1000:.2f} s; "
              f"missing {sum(r['missing'] for r in rows if r['scenario'] == 'waits' and r['engine'] == e)}; "
              f"RSS peak {med('waits', e, 'rss_peak_mb'):.0f} MB, at the end {med('waits', e, 'rss_end_mb'):.0f} MB; seeding {med('waits', e, 'seed_secs'):.0f} s")
for e in ["sqlite", "postgres"]:
    for r in [r for r in rows if r["scenario"] == "chaos" and r["engine"] == e]:
        print(f"{e}: chaos with {r.get('customers', 0):,} customers and {r.get('kills', 0)} kills -9: "
              f"{r.get('with_message', 0):,} with their message, {r.get('doubled_in_database', 0)} doubled, "
              f"{r.get('provider_sends', 0):,} provider sends, {r.get('numbers_sent_twice', 0)} numbers sent twice, "
              f"{r.get('failed_in_flight', 0)} failed in flight; {'passed' if r['passed'] else 'FAILED'}")
if med("startup", "sqlite", "cold_start_ms") is not None:
    print()
    anon, file = med("startup", "sqlite", "idle_rss_anon_mb"), med("startup", "sqlite", "idle_rss_file_mb")
    split = f" ({anon:.1f} MB its own, {file:.1f} MB mapped from files: the binary's code)" if anon is not None and file is not None else ""
    print(f"cold start median {med('startup', 'sqlite', 'cold_start_ms'):.0f} ms, idle RSS median {med('startup', 'sqlite', 'idle_rss_mb'):.1f} MB{split}")
PY
