#!/usr/bin/env bash
# Every figure in docs/benchmarks.md comes from this script. Release build, load from wrk on
# loopback, SQLite and PostgreSQL (127.0.0.1:5432, user postgres). Writes target/bench/results.md.
#
#   benches/run.sh                      # everything (planning seeds 100,000 participants: minutes)
#   BENCH_SECONDS=10 BENCH_CONNECTIONS=16 BENCH_PLANNING=100000 BENCH_ODM=2300 benches/run.sh
#   BENCH_ONLY=fhir benches/run.sh      # the FHIR search line alone (BENCH_ODM participants)
#   BENCH_ONLY=planning,dashboard BENCH_PLANNING=20000 benches/run.sh   # only those sections
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$ROOT/target/bench"
SECONDS_EACH="${BENCH_SECONDS:-10}"
CONN="${BENCH_CONNECTIONS:-16}"
THREADS=2
SUBMITTERS="${BENCH_SUBMITTERS:-300}"
DASHBOARD="${BENCH_DASHBOARD:-2000}"
PLANNING="${BENCH_PLANNING:-100000}"
ODM_PARTICIPANTS="${BENCH_ODM:-2300}"
PG="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
# Sections to run (comma-separated: planning, dashboard); empty: everything.
ONLY="${BENCH_ONLY:-}"
only() { [ -n "$ONLY" ] && [[ ",$ONLY," != *",$1,"* ]]; } # true when $1 is left out
mkdir -p "$OUT"
RESULTS="$OUT/results.md"
command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null
cargo build --release --quiet --bin epro --example bare_poem --example bench_seed --example bench_submit --example bench_forms
BIN="$TARGET/release/epro"
WORK="$(mktemp -d)"
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
# A copy of the study allowing six-digit numbers (100,000 participants) and sending all day.
sed -e 's/{nnn}/{nnnnnn}/' -e 's/send_from = "09:00"/send_from = "00:00"/' -e 's/send_until = "19:00"/send_until = "23:59"/' \
  studies/hermes.toml > "$WORK/hermes-bench.toml"
export EPRO_STUDY_FILE="$WORK/hermes-bench.toml" EPRO_QUESTIONNAIRES_DIR="$ROOT/questionnaires"
export EPRO_AUDIT_KEY="$(openssl rand -hex 32)" EPRO_DATA_KEY="$(openssl rand -hex 32)" EPRO_ARCHIVE_KEY="$(openssl rand -hex 32)"
export EPRO_BOOTSTRAP_ADMIN_PASSWORD="bench-admin-password" EPRO_JOBS_INTERVAL_SECONDS=0 RUST_LOG=warn

{
  echo "# Benchmark run $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(uname -r); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); PostgreSQL $(psql -At "$PG/postgres" -c 'show server_version' 2>/dev/null || echo '?')."
  echo "Load: wrk, $THREADS threads, $CONN connections, ${SECONDS_EACH} s per figure, on loopback with the server."
  echo
} > "$RESULTS"

# wrk's latency lines → "median p99 req/s"
wrk_figures() { awk '/ 50%/{m=$2} / 99%/{p=$2} /Requests\/sec/{r=$2} END{print m, p, r}' "$1"; }

start_server() { # url port
  ( EPRO_DATABASE_URL="$1" EPRO_DATA_DIR="$WORK/data" EPRO_LISTEN="127.0.0.1:$2" EPRO_BASE_URL="http://127.0.0.1:$2" \
    exec "$BIN" serve ) > "$WORK/server-$2.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  cat "$WORK/server-$2.log"; exit 1
}
stop_server() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""; }
rss_kb() { ps -o rss= -p "$SERVER" | tr -d ' '; }

backend() { # name url port
  local name="$1" url="$2" port="$3" B="http://127.0.0.1:$3"
  echo "## $name" >> "$RESULTS"; echo >> "$RESULTS"
  start_server "$url" "$port"
  sleep 1; local idle; idle=$(rss_kb)
  python3 benches/setup.py "$B" "$EPRO_BOOTSTRAP_ADMIN_PASSWORD" "$WORK" "$SUBMITTERS" >/dev/null
  local dm; dm=$(python3 -c "import json;print(json.load(open('$WORK/tokens.json'))['data_manager'])")

  # 1. GET a questionnaire definition, against a bare poem handler serving the same bytes.
  local path="/api/v1/questionnaires/eortc-qlq-c30/3.0?lang=nl"
  curl -fsS "$B$path" -o "$WORK/def.json"
  wrk -t$THREADS -c$CONN -d${SECONDS_EACH}s --latency "$B$path" > "$WORK/def.txt"
  "$TARGET/release/examples/bare_poem" "127.0.0.1:$((port + 1))" "$WORK/def.json" & local BARE=$!
  sleep 0.5
  wrk -t$THREADS -c$CONN -d${SECONDS_EACH}s --latency "http://127.0.0.1:$((port + 1))$path" > "$WORK/bare.txt"
  kill $BARE; wait $BARE 2>/dev/null || true
  read -r dm50 dm99 drps < <(wrk_figures "$WORK/def.txt")
  read -r bm50 bm99 brps < <(wrk_figures "$WORK/bare.txt")

  # 2. Full participant submissions (C30 + BM22 + NRS for two lesions: three requests), each
  #    sent once by examples/bench_submit (a time-based generator would run out of work); RSS
  #    sampled under that load.
  # On PostgreSQL half the prepared submissions go to one instance, the other half to two
  # instances on the same database (the scale-out figure).
  local subs="$WORK/submissions.txt"
  if [ "$name" = PostgreSQL ]; then
    local half=$(( $(wc -l < "$subs") / 6 * 3 ))
    head -n "$half" "$subs" > "$WORK/subs-one.txt"; tail -n +"$((half + 1))" "$subs" > "$WORK/subs-two.txt"
    subs="$WORK/subs-one.txt"
  fi
  "$TARGET/release/examples/bench_submit" "$B" "$subs" "$CONN" > "$WORK/sub.txt" &
  local W=$!; sleep 1; local loaded; loaded=$(rss_kb); wait $W
  if [ "$name" = PostgreSQL ]; then
    ( EPRO_DATABASE_URL="$url" EPRO_DATA_DIR="$WORK/data" EPRO_LISTEN="127.0.0.1:$((port + 2))" \
      EPRO_BASE_URL="http://127.0.0.1:$((port + 2))" exec "$BIN" serve ) > "$WORK/server-second.log" 2>&1 &
    local SECOND=$!
    for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$((port + 2))/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    "$TARGET/release/examples/bench_submit" "$B,http://127.0.0.1:$((port + 2))" "$WORK/subs-two.txt" "$CONN" > "$WORK/sub-two.txt"
    kill $SECOND; wait $SECOND 2>/dev/null || true
    read -r one_rps < <(awk '{for(i=1;i<NF;i++) if($i=="rps") print $(i+1)}' "$WORK/sub.txt")
    read -r two_rps two_bad < <(awk '{for(i=1;i<NF;i++){if($i=="rps")r=$(i+1); if($i=="failed")f=$(i+1)}} END{print r, f}' "$WORK/sub-two.txt")
    echo "$one_rps $two_rps $two_bad" > "$WORK/scale-out"
  fi
  read -r s50 s99 srps bad < <(awk '{for(i=1;i<NF;i++){if($i=="median_ms")m=$(i+1); if($i=="p99_ms")p=$(i+1); if($i=="rps")r=$(i+1); if($i=="failed")f=$(i+1)}} END{print m"ms", p"ms", r, f}' "$WORK/sub.txt")

  # 3. The dashboard's data with DASHBOARD participants × 7 visits.
  EPRO_DATABASE_URL="$url" EPRO_DATA_DIR="$WORK/data" "$TARGET/release/examples/bench_seed" "$DASHBOARD" 24 >/dev/null 2>&1
  wrk -t1 -c2 -d${SECONDS_EACH}s --latency -H "Authorization: Bearer $dm" "$B/api/v1/completion" > "$WORK/dash.txt"
  read -r d50 d99 drps2 < <(wrk_figures "$WORK/dash.txt")
  # One site's dashboard (the site nurse's view).
  local site; site=$(awk '/^\[\[sites\]\]/{s=1} s && /^code = /{gsub(/"/,"",$3); print $3; exit}' "$EPRO_STUDY_FILE")
  wrk -t1 -c2 -d${SECONDS_EACH}s --latency -H "Authorization: Bearer $dm" "$B/api/v1/completion?site=$site" > "$WORK/dash-site.txt"
  read -r o50 o99 orps < <(wrk_figures "$WORK/dash-site.txt")
  local site_rows; site_rows=$(curl -fsS -H "Authorization: Bearer $dm" "$B/api/v1/completion?site=$site" | python3 -c 'import json,sys;print(len(json.load(sys.stdin)["participants"]))')
  local rows; rows=$(curl -fsS -H "Authorization: Bearer $dm" "$B/api/v1/completion" | python3 -c 'import json,sys;print(len(json.load(sys.stdin)["participants"]))')
  stop_server

  {
    echo "| Figure | median | p99 | throughput | limit (same run) | ratio |"
    echo "|---|---|---|---|---|---|"
    echo "| GET questionnaire definition ($(stat -c %s "$WORK/def.json") B) | $dm50 | $dm99 | $drps req/s | bare poem handler, same bytes: $brps req/s (median $bm50) | $(python3 -c "print(f'{$drps/$brps:.2f}')") |"
    echo "| Submission request (one questionnaire; $(wc -l < "$subs") requests, $bad not 2xx) | $s50 | $s99 | $srps req/s = $(python3 -c "print(f'{$srps/3:.0f}')") full submissions/s | PostgreSQL: pgbench below | |"
    echo "| Dashboard data, GET /api/v1/completion ($rows participants) | $d50 | $d99 | $drps2 req/s | | |"
    echo "| Dashboard data, one site ($site, $site_rows participants) | $o50 | $o99 | $orps req/s | | |"
    echo "| Server RSS | idle $((idle / 1024)) MB | | under submission load $((loaded / 1024)) MB | | |"
    if [ -f "$WORK/scale-out" ] && [ "$name" = PostgreSQL ]; then
      read -r one_rps two_rps two_bad < "$WORK/scale-out"
      echo "| Submission requests, two instances on this PostgreSQL (the other half of the set; $two_bad not 2xx) | | | $two_rps req/s | one instance: $one_rps req/s | $(python3 -c "print(f'{$two_rps/$one_rps:.2f}')") |"
    fi
    echo
  } >> "$RESULTS"
  echo "$srps" > "$WORK/$name-srps"
  # The figures the targets are judged on (numbers only, ms and MB).
  echo "$(python3 -c "print(f'{$drps/$brps:.2f}')") $s99 $d50 $((loaded / 1024)) $((idle / 1024)) $o50" > "$WORK/$name-figs"
}

# Target, measured and verdict for every figure of issue 17, from this run's numbers.
verdicts() {
  read -r sq_def sq_p99 sq_dash sq_rss sq_idle sq_site < "$WORK/SQLite-figs"
  read -r pg_def pg_p99 pg_dash pg_rss pg_idle pg_site < "$WORK/PostgreSQL-figs"
  local pg_ratio; pg_ratio=$(python3 -c "print(f'{$(cat "$WORK/PostgreSQL-srps")/$TPS:.2f}')")
  python3 - "$sq_def" "$pg_def" "$pg_ratio" "$pg_p99" "$sq_p99" "$sq_dash" "$pg_dash" "$sq_rss" "$pg_rss" "$sq_idle" "$pg_idle" "$sq_site" "$pg_site" <<'PY' >> "$RESULTS"
import re, sys
def ms(text):  # wrk and bench_submit durations ("850.00us", "12.3ms", "1.02s") in ms
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)?", text)
    value, unit = float(m.group(1)), m.group(2) or "ms"
    return value * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]
a = sys.argv[1:]
sq_def, pg_def, pg_ratio = float(a[0]), float(a[1]), float(a[2])
pg_p99, sq_p99, sq_dash, pg_dash = ms(a[3]), ms(a[4]), ms(a[5]), ms(a[6])
sq_rss, pg_rss, sq_idle, pg_idle = map(float, a[7:11])
sq_site, pg_site = ms(a[11]), ms(a[12])
rows = [
    ("Definition GET / bare poem handler", ">= 0.5", f"{sq_def:.2f} (SQLite), {pg_def:.2f} (PostgreSQL)", min(sq_def, pg_def) >= 0.5),
    ("Submissions on PostgreSQL / pgbench", ">= 0.4", f"{pg_ratio:.2f}", pg_ratio >= 0.4),
    ("Submission p99 on PostgreSQL", "< 50 ms", f"{pg_p99:g} ms", pg_p99 < 50),
    ("Submission p99 on SQLite, 16 concurrent", "< 100 ms", f"{sq_p99:g} ms", sq_p99 < 100),
    ("Dashboard data, all sites (median)", "< 100 ms", f"{sq_dash:g} ms (SQLite), {pg_dash:g} ms (PostgreSQL)", max(sq_dash, pg_dash) < 100),
    ("Dashboard data, one site (median)", "< 20 ms", f"{sq_site:g} ms (SQLite), {pg_site:g} ms (PostgreSQL)", max(sq_site, pg_site) < 20),
    ("RSS under submission load", "< 128 MB", f"{sq_rss:g} MB (SQLite), {pg_rss:g} MB (PostgreSQL)", max(sq_rss, pg_rss) < 128),
    ("RSS idle", "< 64 MB", f"{sq_idle:g} MB (SQLite), {pg_idle:g} MB (PostgreSQL)", max(sq_idle, pg_idle) < 64),
]
print("## Against the targets")
print()
print("| Figure | target | measured | verdict |")
print("|---|---|---|---|")
for name, target, measured, ok in rows:
    print(f"| {name} | {target} | {measured} | {'met' if ok else 'missed'} |")
print()
PY
}

source "$ROOT/benches/fhir_search.sh"
if [ "${BENCH_ONLY:-}" = fhir ]; then fhir_search "$ODM_PARTICIPANTS" 18340; cat "$RESULTS"; exit 0; fi
# The dashboard alone (BENCH_ONLY=dashboard): SUBMITTERS + DASHBOARD participants, the first
# request right after the seeding (another process) ended, as in backend's step 3.
dashboard_only() { # name url port
  local name="$1" url="$2" port="$3" B="http://127.0.0.1:$3"
  start_server "$url" "$port"
  python3 benches/setup.py "$B" "$EPRO_BOOTSTRAP_ADMIN_PASSWORD" "$WORK" "$SUBMITTERS" >/dev/null
  local dm; dm=$(python3 -c "import json;print(json.load(open('$WORK/tokens.json'))['data_manager'])")
  EPRO_DATABASE_URL="$url" EPRO_DATA_DIR="$WORK/data" "$TARGET/release/examples/bench_seed" "$DASHBOARD" 24 >/dev/null 2>&1
  wrk -t1 -c2 -d${SECONDS_EACH}s --latency -H "Authorization: Bearer $dm" "$B/api/v1/completion" > "$WORK/dash.txt"
  read -r d50 d99 drps2 < <(wrk_figures "$WORK/dash.txt")
  local site; site=$(awk '/^\[\[sites\]\]/{s=1} s && /^code = /{gsub(/"/,"",$3); print $3; exit}' "$EPRO_STUDY_FILE")
  wrk -t1 -c2 -d${SECONDS_EACH}s --latency -H "Authorization: Bearer $dm" "$B/api/v1/completion?site=$site" > "$WORK/dash-site.txt"
  read -r o50 o99 orps < <(wrk_figures "$WORK/dash-site.txt")
  local rows; rows=$(curl -fsS -H "Authorization: Bearer $dm" "$B/api/v1/completion" | python3 -c 'import json,sys;print(len(json.load(sys.stdin)["participants"]))')
  stop_server
  {
    echo "## Dashboard, $name"
    echo
    echo "| Figure | median | p99 | throughput |"
    echo "|---|---|---|---|"
    echo "| Dashboard data, GET /api/v1/completion ($rows participants; first request right after seeding) | $d50 | $d99 | $drps2 req/s |"
    echo "| Dashboard data, one site ($site) | $o50 | $o99 | $orps req/s |"
    echo
    echo "| Figure | target | measured | verdict |"
    echo "|---|---|---|---|"
    python3 - "$d99" <<'PY'
import re, sys
m = re.fullmatch(r"([0-9.]+)(us|ms|s)?", sys.argv[1])
v = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2) or "ms"]
print(f"| Dashboard data, all sites (p99) | < 100 ms | {v:g} ms | {'met' if v < 100 else 'missed'} |")
PY
    echo
  } >> "$RESULTS"
}
if [ -n "$ONLY" ]; then
  if ! only dashboard; then
    dashboard_only SQLite "sqlite://$WORK/bench.db?mode=rwc" 18310
    psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS epro_bench_perf" -c "CREATE DATABASE epro_bench_perf"
    dashboard_only PostgreSQL "$PG/epro_bench_perf" 18320
    psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS epro_bench_perf"
  fi
  ODM_PARTICIPANTS=0
  only planning && PLANNING=0
else
backend SQLite "sqlite://$WORK/bench.db?mode=rwc" 18310
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS epro_bench" -c "CREATE DATABASE epro_bench"
backend PostgreSQL "$PG/epro_bench" 18320
# Sequencing lag (#29.7): p99 over the submission events of the load above, from the event's time
# (taken in its transaction, before commit: an upper bound of commit → numbered) to the
# sequencer's pass that numbered it (docs/audit-ledger.md).
SEQ_LAG=$(psql -At "$PG/epro_bench" -c "SELECT round((1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sequenced_at::timestamptz - at::timestamptz)))::numeric, 1) FROM audit_event WHERE action = 'response.submitted'")

# pgbench: the equivalent transaction on the same PostgreSQL.
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS epro_bench_pgbench" -c "CREATE DATABASE epro_bench_pgbench"
psql -q "$PG/epro_bench_pgbench" -c "CREATE TABLE bench_response (id uuid PRIMARY KEY, participant bigint, visit text, questionnaire text, status text, submitted_at timestamptz)" \
  -c "CREATE TABLE bench_answer (response_id uuid REFERENCES bench_response(id), item text, value int, answered_at timestamptz, PRIMARY KEY (response_id, item))"
pgbench -n -c "$CONN" -j $THREADS -T "$SECONDS_EACH" -r -f benches/pgbench-submission.sql "$PG/epro_bench_pgbench" > "$WORK/pgbench.txt" 2>&1
TPS=$(awk '/^tps/{print $3; exit}' "$WORK/pgbench.txt")
LAT=$(awk '/latency average/{print $4" "$5}' "$WORK/pgbench.txt")
PGSRPS=$(cat "$WORK/PostgreSQL-srps")
{
  echo "## Submissions against their limit (PostgreSQL)"
  echo
  echo "pgbench, one response row + 30 answer rows per transaction, $CONN clients: $TPS tps (average latency $LAT)."
  echo "epro on the same PostgreSQL: $PGSRPS submission requests/s → ratio $(python3 -c "print(f'{$PGSRPS/$TPS:.2f}')")."
  echo "Audit sequencing lag under that load, p99: $SEQ_LAG ms (target < 1000 ms)."
  echo
} >> "$RESULTS"
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS epro_bench_pgbench" -c "DROP DATABASE IF EXISTS epro_bench"
verdicts
fi

# ODM export (docs/exports.md, "odm.xml"): ODM_PARTICIPANTS participants × 7 visits × 3 forms
# (examples/bench_forms) on SQLite; odm.xml timed against answers.csv of the same rows, and the
# server's peak RSS (VmHWM: the whole process's high-water mark, so an upper bound of what the
# streamed export needs).
odm_export() { # participants port
  local n="$1" port="$2" B="http://127.0.0.1:$2" db="sqlite://$WORK/odm.db?mode=rwc" dir="$WORK/odm"
  mkdir -p "$dir"
  EPRO_DATABASE_URL="$db" EPRO_DATA_DIR="$WORK/data" "$TARGET/release/examples/bench_seed" "$n" 24 >/dev/null 2>&1
  EPRO_DATABASE_URL="$db" EPRO_DATA_DIR="$WORK/data" "$TARGET/release/examples/bench_forms" 7 >/dev/null 2>&1
  start_server "$db" "$port"
  python3 benches/setup.py "$B" "$EPRO_BOOTSTRAP_ADMIN_PASSWORD" "$dir" 0 >/dev/null
  local dm; dm=$(python3 -c "import json;print(json.load(open('$dir/tokens.json'))['data_manager'])")
  local csv_s odm_s peak forms answers mb
  csv_s=$(curl -fsS -o "$dir/answers.csv" -w '%{time_total}' -H "Authorization: Bearer $dm" "$B/api/v1/exports/answers.csv")
  odm_s=$(curl -fsS -o "$dir/odm.xml" -w '%{time_total}' -H "Authorization: Bearer $dm" "$B/api/v1/exports/odm.xml")
  peak=$(awk '/VmHWM/{print int($2 / 1024)}' "/proc/$SERVER/status")
  stop_server
  forms=$(grep -c 'ItemOID="I.FORM.STATUS" Value="received"' "$dir/odm.xml" || true)
  answers=$(( $(wc -l < "$dir/answers.csv") - 1 ))
  mb=$(( $(stat -c %s "$dir/odm.xml") / 1048576 ))
  {
    echo "## ODM export (SQLite)"
    echo
    echo "| Rows | odm.xml | answers.csv, same rows | ratio | odm.xml per 10,000 forms | server peak RSS (VmHWM) |"
    echo "|---|---|---|---|---|---|"
    echo "| $n participants, $forms forms, $answers answers | ${odm_s} s ($mb MB) | ${csv_s} s | $(python3 -c "print(f'{$odm_s/$csv_s:.2f}')") | $(python3 -c "print(f'{$odm_s/max($forms,1)*10000:.2f}')") s | $peak MB |"
    echo
    echo "| Figure | target | measured | verdict |"
    echo "|---|---|---|---|"
    echo "| Server peak RSS with odm.xml of $n × 7 × 3 forms streamed | < 128 MB | $peak MB | $(python3 -c "print('met' if $peak < 128 else 'missed')") |"
    echo
  } >> "$RESULTS"
}
if [ "$ODM_PARTICIPANTS" -gt 0 ]; then odm_export "$ODM_PARTICIPANTS" 18330; fhir_search "$ODM_PARTICIPANTS" 18340; fi

# Reminder planning: PLANNING participants spread over two years; then PLANNING/5 for growth.
if [ "$PLANNING" -eq 0 ]; then cat "$RESULTS"; exit 0; fi
{
  echo "## Reminder planning"
  echo
  echo "| Participants (history: 24 months) | reminders due | time (\`reminders plan\`, whole process) | max RSS | first planning pass into the outbox | next passes at the same instant |"
  echo "|---|---|---|---|---|---|"
} >> "$RESULTS"
for n in $((PLANNING / 5)) "$PLANNING"; do
  db="$WORK/plan-$n.db"
  EPRO_DATABASE_URL="sqlite://$db?mode=rwc" EPRO_DATA_DIR="$WORK/data" "$TARGET/release/examples/bench_seed" "$n" 24 >/dev/null 2>&1
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" env EPRO_DATABASE_URL="sqlite://$db" EPRO_DATA_DIR="$WORK/data" \
    "$BIN" reminders plan > "$WORK/plan.txt" 2>/dev/null
  read -r secs maxkb < "$WORK/time.txt"
  due=$(grep -c . "$WORK/plan.txt" || true)
  # The worker's planning step (pass time measured inside the process): the first pass looks at
  # everyone with an open visit; the next, at the same instant, at those whose marks passed.
  at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  first=$(EPRO_DATABASE_URL="sqlite://$db" EPRO_DATA_DIR="$WORK/data" "$BIN" reminders plan --store --at "$at" 2>/dev/null | tail -1)
  next=$(EPRO_DATABASE_URL="sqlite://$db" EPRO_DATA_DIR="$WORK/data" "$BIN" reminders plan --store --at "$at" 2>/dev/null | tail -1)
  next2=$(EPRO_DATABASE_URL="sqlite://$db" EPRO_DATA_DIR="$WORK/data" "$BIN" reminders plan --store --at "$at" 2>/dev/null | tail -1)
  echo "| $n | $due lines | ${secs} s | $((maxkb / 1024)) MB | ${first#*: } | ${next#*: }; then ${next2#*: } |" >> "$RESULTS"
  first_ms=${first##* in }; looked_again=${next#*looked at }
  echo "$n $secs ${next2##* in } ${first_ms% ms} ${looked_again%% *}" >> "$WORK/planning-figs"
done
echo >> "$RESULTS"
read -r pn psecs pnext pfirst plooked < <(tail -1 "$WORK/planning-figs")
pnext_ms=${pnext% ms}
{
  echo "| Figure | target | measured | verdict |"
  echo "|---|---|---|---|"
  echo "| Reminder planning, $pn participants (\`reminders plan\`) | < 2 s | ${psecs} s | $(python3 -c "print('met' if $psecs < 2 else 'missed')") |"
  echo "| First stored planning pass, $pn participants | < 2 s | ${pfirst} ms | $(python3 -c "print('met' if $pfirst < 2000 else 'missed')") |"
  echo "| The pass right after it looks again at | 0 participants | $plooked | $([ "$plooked" = 0 ] && echo met || echo missed) |"
  echo "| Planning pass with nothing newly due, $pn participants | < 50 ms | ${pnext_ms} ms | $(python3 -c "print('met' if $pnext_ms < 50 else 'missed')") |"
  echo
} >> "$RESULTS"
cat "$RESULTS"
