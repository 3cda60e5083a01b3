#!/usr/bin/env bash
# API fuzzing: schemathesis against /api/openapi.json of a running epro server (fresh SQLite), as
# the admin, as site staff of ZAS and as a participant with a session. Every check but one: no
# 5xx, every status and header documented, every body matching its schema, schema-invalid requests
# rejected, 405 with Allow. Left out: `positive_data_acceptance` — a schema-valid body can still be
# refused by the trial's rules (an item code the questionnaire does not have, a language the study
# does not use), with a documented 422 that names the problem.
#
#   .ci/fuzz_api.sh path/to/epro [path/to/schemathesis]
# EPRO_FUZZ_SEED fixes the generated cases (default 1); EPRO_FUZZ_EXAMPLES how many per operation.
set -euo pipefail
BIN="$1"
ST="${2:-schemathesis}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SEED="${EPRO_FUZZ_SEED:-1}"
EXAMPLES="${EPRO_FUZZ_EXAMPLES:-20}"
WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
B="http://127.0.0.1:$PORT"
(
  cd "$ROOT"
  EPRO_DATABASE_URL="sqlite://$WORK/epro.db?mode=rwc" EPRO_DATA_DIR="$WORK/data" EPRO_LISTEN="127.0.0.1:$PORT" \
  EPRO_BASE_URL="$B" EPRO_BOOTSTRAP_ADMIN_PASSWORD="fuzz-admin-password" EPRO_JOBS_INTERVAL_SECONDS=0 \
  RUST_LOG=warn exec "$BIN" serve
) > "$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 300); do curl -fsS "$B/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

json() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }
call() { curl -fsS -X "$1" "$B$2" -H 'content-type: application/json' ${3:+-H "authorization: Bearer $3"} ${4:+-d "$4"}; }
ADMIN=$(call POST /api/v1/auth/login "" '{"email":"admin@example.org","password":"fuzz-admin-password"}' | json '["token"]')
call POST /api/v1/users "$ADMIN" '{"email":"nurse@zas.example","password":"first-password-1","role":"site_staff","sites":["ZAS"]}' >/dev/null
FIRST=$(call POST /api/v1/auth/login "" '{"email":"nurse@zas.example","password":"first-password-1"}' | json '["token"]')
call PUT /api/v1/auth/password "$FIRST" '{"current_password":"first-password-1","new_password":"second-password-2"}' >/dev/null
NURSE=$(call POST /api/v1/auth/login "" '{"email":"nurse@zas.example","password":"second-password-2"}' | json '["token"]')
TODAY=$(TZ=Europe/Brussels date +%F)
call POST /api/v1/participants "$NURSE" "{\"study_id\":\"HERMES-ZAS-001\",\"site\":\"ZAS\",\"language\":\"nl\",\"randomization_date\":\"$TODAY\",\"arm\":\"A\"}" >/dev/null
call POST /api/v1/participants/HERMES-ZAS-001/lesions "$NURSE" '{"location":"L3","labels":{"nl":"onderrug","fr":"bas du dos","en":"lower back"},"high_risk_reasons":["size_2cm"]}' >/dev/null
LINK=$(call POST /api/v1/participants/HERMES-ZAS-001/access-link "$NURSE" '{"pin":"4826"}' | json '["link_token"]')
PARTICIPANT=$(call POST /api/v1/auth/participant "" "{\"link_token\":\"$LINK\",\"pin\":\"4826\"}" | json '["token"]')

status=0
for who in ADMIN NURSE PARTICIPANT; do
  echo "---- schemathesis as $who (seed $SEED, $EXAMPLES examples per operation)"
  (cd "$WORK" && "$ST" run "$B/api/openapi.json" -H "Authorization: Bearer ${!who}" --checks all --exclude-checks positive_data_acceptance \
    --max-examples "$EXAMPLES" --seed "$SEED" --no-color) > "$WORK/st-$who.log" 2>&1 || status=$?
  sed -n '/SUMMARY/,$p' "$WORK/st-$who.log"
  if [ "$status" -ne 0 ]; then
    cat "$WORK/st-$who.log" | head -300
    break
  fi
done
if grep -q " 50[0-9] " "$WORK/server.log"; then echo "server answered 5xx:"; grep " 50[0-9] " "$WORK/server.log" | head; status=1; fi
exit "$status"
