"""Load the seeded trial's exports (written by tests/api/exports.rs) as a statistician would:
every CSV with pandas, column types checked, the files joined on their keys (every response_id,
lesion_id and visit code refers to a row that exists), no draft by default; every line of
fhir.ndjson checked by fhir.resources (R4).

Usage: python check_exports.py DIR
"""
import json
import pathlib
import sys

import pandas as pd
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


def load(name):
    # Codes stay text (a code "01" or "A" must not become a number); numbers are asked for.
    return pd.read_csv(root / name, dtype=str, keep_default_na=False)


def numeric(df, col):
    values = df[col][df[col] != ""]
    try:
        pd.to_numeric(values)
        return True
    except ValueError:
        return False


def dates(df, col):
    values = df[col][df[col] != ""]
    return pd.to_datetime(values, format="%Y-%m-%d", errors="coerce").notna().all()


def instants(df, col):
    values = df[col][df[col] != ""]
    return pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce").notna().all()


frames = {}
for f in ["answers", "amendments", "visits", "scores", "events", "lesions", "analgesics", "pain",
          "qs", "participants", "dictionary", "wording"]:
    try:
        frames[f] = load(f"{f}.csv")
        check(f"{f}.csv: read by pandas", True)
    except Exception as exc:  # report every file that does not load
        check(f"{f}.csv: read by pandas", False, str(exc))
if failed:
    print(f"{passed} passed, {failed} failed")
    sys.exit(1)

a, v, s, e, l, an, p, qs, pt, d = (frames[k] for k in [
    "answers", "visits", "scores", "events", "lesions", "analgesics", "pain", "qs", "participants",
    "dictionary"])
am = frames["amendments"]
w = frames["wording"]

# Types.
check("answers: value, days_from_sse numeric", numeric(a, "value") and numeric(a, "days_from_sse"))
check("answers: assessment_date and completed_on are dates", dates(a, "assessment_date") and dates(a, "completed_on"))
check("answers: answered_at, submitted_at are ISO 8601 instants", instants(a, "answered_at") and instants(a, "submitted_at"))
check("scores: score, score_min, score_max numeric", all(numeric(s, c) for c in ["score", "score_min", "score_max"]))
check("visits: target a date, windows instants", dates(v, "target") and instants(v, "window_start") and instants(v, "window_end"))
check("pain: nrs, baseline_nrs, change numeric", all(numeric(p, c) for c in ["nrs", "baseline_nrs", "change_from_baseline"]))
check("analgesics: omed numeric", numeric(an, "omed_mg_per_day"))
check("qs: QSSTRESN numeric, QSDTC a date", numeric(qs, "QSSTRESN") and dates(qs, "QSDTC"))
check("answers: booleans are true/false", set(a["late"]) <= {"true", "false"} and set(a["amended"]) <= {"true", "false"})

# No drafts by default.
check("answers: submitted data only", set(a["status"]) <= {"completed", "amended"}, set(a["status"]))

# Joins.
responses = set(a["response_id"])
check("scores.response_id -> answers", set(s["response_id"]) <= responses)
check("amendments.response_id -> answers", set(am["response_id"]) <= responses)
check("visits.response_id -> answers", set(v["response_id"]) - {""} <= responses)
check("pain.response_id -> answers", set(p["response_id"]) <= responses)
check("qs.QSGRPID -> answers", set(qs["QSGRPID"]) - {""} <= responses)
lesions = set(l["lesion_id"])
check("answers.lesion_id -> lesions", set(a["lesion_id"]) - {""} <= lesions)
check("pain.lesion_id -> lesions", set(p["lesion_id"]) <= lesions)
check("scores.lesion_id -> lesions", set(s["lesion_id"]) - {""} <= lesions)
check("events.lesion_id -> lesions", set(e["lesion_id"]) - {""} <= lesions)
visit_codes = set(d[(d["file"] == "codes") & (d["column"] == "visits")]["code"])
for name, df in [("answers", a), ("visits", v), ("scores", s), ("analgesics", an), ("pain", p)]:
    check(f"{name}.visit -> the study's visits", set(df["visit"]) <= visit_codes, set(df["visit"]) - visit_codes)
people = set(pt["study_id"])
for name, df in [("answers", a), ("visits", v), ("events", e), ("lesions", l)]:
    check(f"{name}.study_id -> participants", set(df["study_id"]) <= people)
merged = a.merge(v[v["response_id"] != ""], on="response_id", how="left", suffixes=("", "_visit"))
check("answers joined to visits: every answer finds its visit row", merged["visit_state"].notna().all())
check("answers.wording_sha256 -> wording.csv (the words each response was answered in)",
      set(a["wording_sha256"]) - {""} <= set(w["wording_sha256"]),
      set(a["wording_sha256"]) - {""} - set(w["wording_sha256"]))
check("wording.csv: one text per pack and key", not w.duplicated(["wording_sha256", "text_key"]).any())
check("scores: scale_key unique per instrument", s.groupby("scale_key")["questionnaire"].nunique().max() == 1)
check("scores: one current scoring per response and scale",
      (s[s["current"] == "true"].groupby(["response_id", "scale", "lesion_id"]).size() == 1).all())

# The dictionary names every column of every CSV.
for name, df in frames.items():
    if name == "dictionary":
        continue
    documented = set(d[d["file"] == f"{name}.csv"]["column"])
    check(f"dictionary: every column of {name}.csv", set(df.columns) <= documented, set(df.columns) - documented)

# FHIR R4.
lines = (root / "fhir.ndjson").read_text(encoding="utf-8").splitlines()
check("fhir.ndjson: one resource per submitted response", len(lines) == len(responses), f"({len(lines)} lines, {len(responses)} responses)")
for i, line in enumerate(lines):
    data = json.loads(line)
    try:
        construct_fhir_element("QuestionnaireResponse", data)
        check(f"fhir.ndjson line {i + 1}: valid FHIR R4 QuestionnaireResponse", data["id"] in responses)
    except Exception as exc:  # report and count every invalid line
        check(f"fhir.ndjson line {i + 1}: valid FHIR R4 QuestionnaireResponse", False, str(exc))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
