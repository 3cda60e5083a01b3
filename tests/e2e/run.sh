#!/usr/bin/env bash
# Browser tests and the page budget against a fresh epro server (SQLite in a temporary folder,
# reminder worker off). Needs Chromium (apt: chromium) and Node.js; installs the npm packages
# from package-lock.json when missing. Screenshots and budget figures: target/e2e/.
#
#   tests/e2e/run.sh            # build (debug) if needed, run the tests (HERMES, DEMO-2, DE-3), budget
#   EPRO_BIN=path/to/epro tests/e2e/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
bin="${EPRO_BIN:-$target/debug/epro}"
if [ ! -x "$bin" ]; then
  (cd "$root" && cargo build --bin epro)
fi
if [ ! -d "$here/node_modules/playwright-core" ] || [ ! -d "$here/node_modules/axe-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export E2E_BASE_URL="http://127.0.0.1:$port"
export E2E_ADMIN_PASSWORD="e2e-admin-password-$RANDOM"
export E2E_SCREENSHOT_DIR="$root/target/e2e"
rm -rf "$E2E_SCREENSHOT_DIR"; mkdir -p "$E2E_SCREENSHOT_DIR"
demo2=""
demo2_pg=""
de3=""
cleanup() {
  kill "$server" $demo2 $de3 2>/dev/null || true
  wait "$server" $demo2 $de3 2>/dev/null || true
  if [ -n "$demo2_pg" ]; then
    psql "postgres://postgres@127.0.0.1:5432/postgres" -qc "DROP DATABASE IF EXISTS $demo2_pg" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
# serve NAME DATABASE_URL PORT [VAR=value…]: an epro server in the background (reminder worker
# off), its pid in $served, its log in $work/NAME.log; returns when it answers /readyz.
serve() {
  local name="$1" db="$2" p="$3"
  shift 3
  (
    cd "$root"
    exec env EPRO_DATABASE_URL="$db" EPRO_DATA_DIR="$work/$name-data" EPRO_LISTEN="127.0.0.1:$p" \
      EPRO_BASE_URL="http://127.0.0.1:$p" EPRO_BOOTSTRAP_ADMIN_PASSWORD="$E2E_ADMIN_PASSWORD" \
      EPRO_JOBS_INTERVAL_SECONDS=0 "$@" "$bin" serve
  ) > "$work/$name.log" 2>&1 &
  served=$!
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$p/readyz" > /dev/null 2>&1; then return 0; fi
    if ! kill -0 "$served" 2>/dev/null; then cat "$work/$name.log"; exit 1; fi
    sleep 0.1
  done
}
server=""
serve server "sqlite://$work/epro.db?mode=rwc" "$port"
server=$served
# The second trial, DEMO-2 (docs/new-trial.md): its questionnaires published as the walk-through
# does, served by a second server on its own database.
cp -r "$root/tests/fixtures/demo2" "$work/demo2"
rm -f "$work/demo2/questionnaires/published.lock"
"$bin" questionnaires publish "$work/demo2/questionnaires" > "$work/demo2-publish.log"
# DEMO-2 runs on the machine's PostgreSQL when there is one (HERMES's server on SQLite), so the
# second trial's pages are exercised on both databases.
demo2_db="sqlite://$work/demo2.db?mode=rwc"
if command -v psql >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  demo2_pg="epro_test_e2e_demo2_$RANDOM$RANDOM"
  psql "postgres://postgres@127.0.0.1:5432/postgres" -qc "CREATE DATABASE $demo2_pg" >/dev/null
  demo2_db="postgres://postgres@127.0.0.1:5432/$demo2_pg"
fi
echo "DEMO-2 server database: ${demo2_db%%://*}"
demo2_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
demo2_url="http://127.0.0.1:$demo2_port"
serve demo2 "$demo2_db" "$demo2_port" \
  EPRO_STUDY_FILE="$work/demo2/study.toml" EPRO_QUESTIONNAIRES_DIR="$work/demo2/questionnaires"
demo2=$served
# DE-3 (tests/fixtures/german): a study in German whose page, email and SMS texts come from files
# only (EPRO_TEXTS_DIR), not from the build; DEMO-2's questionnaire with a German wording pack.
mkdir -p "$work/de3"
cp -r "$root/tests/fixtures/demo2/questionnaires" "$work/de3/questionnaires"
rm -f "$work/de3/questionnaires/published.lock"
cp "$root/tests/fixtures/german/generic-health-5.de.json" "$work/de3/questionnaires/generic-health-5/1.0.0/text/de.json"
python3 - "$work/de3/questionnaires/generic-health-5/1.0.0/definition.json" <<'PY'
import json, sys
path = sys.argv[1]
definition = json.load(open(path, encoding="utf-8"))
definition["languages"].append("de")
json.dump(definition, open(path, "w", encoding="utf-8"), indent=2)
PY
"$bin" questionnaires publish "$work/de3/questionnaires" > "$work/de3-publish.log"
de3_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
de3_url="http://127.0.0.1:$de3_port"
serve de3 "sqlite://$work/de3.db?mode=rwc" "$de3_port" \
  EPRO_STUDY_FILE="$root/tests/fixtures/german/study.toml" EPRO_QUESTIONNAIRES_DIR="$work/de3/questionnaires" \
  EPRO_TEXTS_DIR="$root/tests/fixtures/german/texts"
de3=$served
status=0
# Each test makes its own participants (each its own study id); staff-status.test.mjs counts the
# dashboard, so its participants are at a site (UZG) no other test uses.
(cd "$here" && node --test --test-concurrency=1 pages.test.mjs nojs.test.mjs access.test.mjs participant.test.mjs staff-status.test.mjs refusals.test.mjs large-text.test.mjs offline.test.mjs) || status=$?
(cd "$here" && E2E_BASE_URL="$demo2_url" node --test new-trial.test.mjs) || status=$?
(cd "$here" && E2E_BASE_URL="$de3_url" node --test german.test.mjs) || status=$?
(cd "$here" && node budget.mjs) || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (tail) ---"; tail -n 60 "$work/server.log"
  echo "--- DEMO-2 server log (tail) ---"; tail -n 30 "$work/demo2.log"
  echo "--- DE-3 server log (tail) ---"; tail -n 30 "$work/de3.log"
fi
exit "$status"
