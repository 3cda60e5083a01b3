#!/usr/bin/env bash
# Browser tests and the page budget against a fresh epro server (SQLite in a temporary folder,
# reminder worker off). Needs Chromium (apt: chromium) and Node.js; installs the npm packages
# from package-lock.json when missing. Screenshots and budget figures: target/e2e/.
#
#   tests/e2e/run.sh            # build (debug) if needed, run the tests (HERMES, then DEMO-2), budget
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
(
  cd "$root"
  EPRO_DATABASE_URL="sqlite://$work/epro.db?mode=rwc" \
  EPRO_DATA_DIR="$work/data" \
  EPRO_LISTEN="127.0.0.1:$port" \
  EPRO_BASE_URL="$E2E_BASE_URL" \
  EPRO_BOOTSTRAP_ADMIN_PASSWORD="$E2E_ADMIN_PASSWORD" \
  EPRO_JOBS_INTERVAL_SECONDS=0 \
  exec "$bin" serve
) > "$work/server.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 300); do
  if curl -fsS "$E2E_BASE_URL/readyz" > /dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then cat "$work/server.log"; exit 1; fi
  sleep 0.1
done
# The second trial, DEMO-2 (docs/new-trial.md): its questionnaires published as the walk-through
# does, served by a second server on its own database.
cp -r "$root/tests/fixtures/demo2" "$work/demo2"
rm -f "$work/demo2/questionnaires/published.lock"
"$bin" questionnaires publish "$work/demo2/questionnaires" > "$work/demo2-publish.log"
# DEMO-2 runs on the machine's PostgreSQL when there is one (HERMES's server on SQLite), so the
# second trial's pages are exercised on both databases.
demo2_db="sqlite://$work/demo2.db?mode=rwc"
demo2_pg=""
if command -v psql >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  demo2_pg="epro_test_e2e_demo2_$RANDOM$RANDOM"
  psql "postgres://postgres@127.0.0.1:5432/postgres" -qc "CREATE DATABASE $demo2_pg" >/dev/null
  demo2_db="postgres://postgres@127.0.0.1:5432/$demo2_pg"
fi
echo "DEMO-2 server database: ${demo2_db%%://*}"
demo2_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
demo2_url="http://127.0.0.1:$demo2_port"
(
  cd "$root"
  EPRO_DATABASE_URL="$demo2_db" \
  EPRO_DATA_DIR="$work/demo2-data" \
  EPRO_LISTEN="127.0.0.1:$demo2_port" \
  EPRO_BASE_URL="$demo2_url" \
  EPRO_STUDY_FILE="$work/demo2/study.toml" \
  EPRO_QUESTIONNAIRES_DIR="$work/demo2/questionnaires" \
  EPRO_BOOTSTRAP_ADMIN_PASSWORD="$E2E_ADMIN_PASSWORD" \
  EPRO_JOBS_INTERVAL_SECONDS=0 \
  exec "$bin" serve
) > "$work/demo2-server.log" 2>&1 &
demo2=$!
cleanup() {
  kill "$server" "$demo2" 2>/dev/null || true
  wait "$server" "$demo2" 2>/dev/null || true
  if [ -n "$demo2_pg" ]; then
    psql "postgres://postgres@127.0.0.1:5432/postgres" -qc "DROP DATABASE IF EXISTS $demo2_pg" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
for _ in $(seq 1 300); do
  if curl -fsS "$demo2_url/readyz" > /dev/null 2>&1; then break; fi
  if ! kill -0 "$demo2" 2>/dev/null; then cat "$work/demo2-server.log"; exit 1; fi
  sleep 0.1
done
status=0
(cd "$here" && node --test --test-concurrency=1 pages.test.mjs nojs.test.mjs access.test.mjs participant.test.mjs) || status=$?
(cd "$here" && E2E_BASE_URL="$demo2_url" node --test new-trial.test.mjs) || status=$?
(cd "$here" && node budget.mjs) || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (tail) ---"; tail -n 60 "$work/server.log"
  echo "--- DEMO-2 server log (tail) ---"; tail -n 30 "$work/demo2-server.log"
fi
exit "$status"
