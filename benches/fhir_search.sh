# Sourced by benches/run.sh (needs its BIN, TARGET, WORK, RESULTS, start_server, stop_server).
# FHIR search (#26.5, docs/fhir.md): the seeded ODM dataset (participants × 7 visits × 3 forms,
# examples/bench_forms) on SQLite; every completed QuestionnaireResponse paged with _count=100
# following `next`, timed against answers.csv of the same rows, in the same run.
fhir_search() { # participants port
  local n="$1" port="$2" B="http://127.0.0.1:$2" db="sqlite://$WORK/fhir.db?mode=rwc" dir="$WORK/fhir"
  mkdir -p "$dir"
  EPRO_DATABASE_URL="$db" EPRO_DATA_DIR="$WORK/data" "$TARGET/release/examples/bench_seed" "$n" 24 >/dev/null 2>&1
  EPRO_DATABASE_URL="$db" EPRO_DATA_DIR="$WORK/data" "$TARGET/release/examples/bench_forms" 7 >/dev/null 2>&1
  start_server "$db" "$port"
  python3 benches/setup.py "$B" "$EPRO_BOOTSTRAP_ADMIN_PASSWORD" "$dir" 0 >/dev/null
  local dm; dm=$(python3 -c "import json;print(json.load(open('$dir/tokens.json'))['data_manager'])")
  local csv_s pages responses fhir_s
  csv_s=$(curl -fsS -o "$dir/answers.csv" -w '%{time_total}' -H "Authorization: Bearer $dm" "$B/api/v1/exports/answers.csv")
  read -r pages responses fhir_s < <(python3 benches/fhir_pages.py "$B" "$dm")
  stop_server
  {
    echo "## FHIR search (SQLite)"
    echo
    echo "| Rows | every completed QuestionnaireResponse, \`_count=100\`, following \`next\` | pages/s | answers.csv, same rows | ratio (FHIR / CSV time) |"
    echo "|---|---|---|---|---|"
    echo "| $n participants, $responses responses, $(( $(wc -l < "$dir/answers.csv") - 1 )) answers | $pages pages in ${fhir_s} s | $(python3 -c "print(f'{$pages/$fhir_s:.1f}')") | ${csv_s} s | $(python3 -c "print(f'{$fhir_s/$csv_s:.2f}')") |"
    echo
  } >> "$RESULTS"
}
