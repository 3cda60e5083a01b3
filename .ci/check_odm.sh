#!/usr/bin/env bash
# The ODM checks of .ci/run, runnable alone: xmllint validates every ODM file the API tests wrote
# (tests/api/odm.rs, EPRO_EXPORT_SAMPLE_DIR/odm/) against the official CDISC ODM 1.3.2 schema in
# tests/fixtures/odm-1.3.2/, offline; then the independent reader (.ci/check_odm.py, lxml) checks
# references, code lists, the values against answers.csv and the transactional increments.
# Usage: .ci/check_odm.sh SAMPLE_DIR [SAMPLE_DIR ...]   (one per database run)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -gt 0 ] || { echo "usage: $0 SAMPLE_DIR [SAMPLE_DIR ...]"; exit 2; }
if ! command -v xmllint >/dev/null; then
  echo "installing xmllint (apt: libxml2-utils)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q libxml2-utils >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libxml2-utils >/dev/null; }
fi
SCHEMA=tests/fixtures/odm-1.3.2/ODM1-3-2.xsd
for dir in "$@"; do
  files=("$dir"/odm/odm*.xml)
  [ -e "${files[0]}" ] || { echo "no ODM files in $dir/odm (run the API tests with EPRO_EXPORT_SAMPLE_DIR=$dir)"; exit 1; }
  for f in "${files[@]}"; do xmllint --noout --nonet --schema "$SCHEMA" "$f"; done
done
VENV="$(mktemp -d)"
trap 'rm -rf "$VENV"' EXIT
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "lxml==6.1.3"
"$VENV/bin/python" .ci/check_odm.py "$@"
