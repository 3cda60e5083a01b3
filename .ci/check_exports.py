"""Check the export sample written by the test suite with independent tools: Python's csv module
for answers.csv and visits.csv, and fhir.resources (R4) for every line of fhir.ndjson.

Usage: python check_exports.py DIR
"""
import csv
import json
import pathlib
import sys

from fhir.resources import construct_fhir_element

root = pathlib.Path(sys.argv[1])
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


with open(root / "answers.csv", newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
check("answers.csv: one row per answer", len(rows) == 54, f"({len(rows)} rows)")
nrs = [r for r in rows if r["questionnaire"] == "nrs-lesion-pain"]
check("answers.csv: lesion id on every NRS row", len(nrs) == 2 and all(r["lesion_id"] for r in nrs))
check("answers.csv: no lesion id elsewhere", all(not r["lesion_id"] for r in rows if r["questionnaire"] != "nrs-lesion-pain"))

with open(root / "visits.csv", newline="", encoding="utf-8") as f:
    visits = {r["visit"]: r for r in csv.DictReader(f)}
check("visits.csv: the missed visit with its reason", visits["M1"]["state"] == "missed" and visits["M1"]["missed_reason"].startswith("hospitalised"))

lines = (root / "fhir.ndjson").read_text(encoding="utf-8").splitlines()
check("fhir.ndjson: one resource per response", len(lines) == 3, f"({len(lines)} lines)")
for i, line in enumerate(lines):
    data = json.loads(line)
    try:
        construct_fhir_element("QuestionnaireResponse", data)
        check(f"fhir.ndjson line {i + 1}: valid FHIR R4 QuestionnaireResponse", data["resourceType"] == "QuestionnaireResponse")
    except Exception as exc:  # report and count every invalid line
        check(f"fhir.ndjson line {i + 1}: valid FHIR R4 QuestionnaireResponse", False, str(exc))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
