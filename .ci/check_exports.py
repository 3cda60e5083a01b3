"""Load the seeded trial's exports (written by tests/api/exports.rs) as a statistician would:
every CSV with pandas, column types checked (visits.csv with explicit dtypes: local dates,
UTC instants, booleans, integers, and versions as text), the files joined on their keys (every
response_id, lesion_id, visit code and staff id refers to a row that exists; qs.csv holds every
submitted form's answers), no draft by default; every line of fhir.ndjson checked by
fhir.resources (R4).

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


# visits.csv as docs/exports.md says to load it: every column's type given, none guessed.
VISIT_DATES = ["target", "first_day", "last_day", "grace_last_day", "assessment_date", "sse_date"]
VISIT_INSTANTS = ["window_start", "window_end", "grace_end", "device_completed_at"]
VISIT_BOOLS = ["expected", "late", "scorable", "sse_triggered", "synced_late"]
VISIT_INTS = ["visit_num", "days_from_sse", "days_from_randomization"]
VISIT_TEXT = ["study_id", "site", "arm", "visit", "questionnaire", "visit_state", "outcome", "cause",
              "missed_reason", "response_id", "flags", "mode"]


def load_visits():
    dtypes = {c: "string" for c in VISIT_TEXT + VISIT_DATES + VISIT_INSTANTS}
    dtypes.update({c: "boolean" for c in VISIT_BOOLS})
    dtypes.update({c: "Int64" for c in VISIT_INTS})
    df = pd.read_csv(root / "visits.csv", dtype=dtypes, keep_default_na=False, na_values=[""])
    unknown = set(df.columns) - set(dtypes)
    if unknown:
        raise ValueError(f"visits.csv columns without a dtype: {sorted(unknown)}")
    for c in VISIT_DATES:
        df[c] = pd.to_datetime(df[c], format="%Y-%m-%d", errors="raise")
    for c in VISIT_INSTANTS:
        df[c] = pd.to_datetime(df[c], format="ISO8601", utc=True, errors="raise")
    return df


frames = {}
try:
    typed_visits = load_visits()
    check("visits.csv: read with explicit dtypes", True)
except Exception as exc:  # report, then go on with the text frames
    typed_visits = None
    check("visits.csv: read with explicit dtypes", False, str(exc))
for f in ["answers", "amendments", "visits", "scores", "events", "lesions", "analgesics", "pain",
          "qs", "participants", "dictionary", "wording", "staff"]:
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
st = frames["staff"]

# Types.
check("answers: value, days_from_sse numeric", numeric(a, "value") and numeric(a, "days_from_sse"))
check("answers: assessment_date and completed_on are dates", dates(a, "assessment_date") and dates(a, "completed_on"))
check("answers: answered_at, submitted_at are ISO 8601 instants", instants(a, "answered_at") and instants(a, "submitted_at"))
check("scores: score, score_min, score_max numeric", all(numeric(s, c) for c in ["score", "score_min", "score_max"]))
check("visits: local dates are dates", all(dates(v, c) for c in VISIT_DATES))
check("visits: window_start, window_end, grace_end are UTC instants", all(instants(v, c) for c in VISIT_INSTANTS))
if typed_visits is not None:
    tv = typed_visits
    # The local dates and the UTC instants agree: last_day is the local day before window_end,
    # grace_last_day the one before grace_end (study time zone).
    tz = "Europe/Brussels"
    closed = tv[tv["window_end"].notna()]
    check("visits: last_day is the local day before the exclusive window_end",
          ((closed["window_end"].dt.tz_convert(tz).dt.tz_localize(None).dt.normalize() - pd.Timedelta(days=1))
           == closed["last_day"]).all())
    graced = tv[tv["grace_end"].notna()]
    check("visits: grace_last_day is the local day before the exclusive grace_end",
          ((graced["grace_end"].dt.tz_convert(tz).dt.tz_localize(None).dt.normalize() - pd.Timedelta(days=1))
           == graced["grace_last_day"]).all())
    check("visits: first_day is window_start's local day",
          (tv["window_start"].dt.tz_convert(tz).dt.tz_localize(None).dt.normalize() == tv["first_day"]).all())
    check("visits: the baseline's end is known once randomized",
          tv[(tv["visit"] == "BL") & tv["arm"].notna()]["window_end"].notna().all())
    check("visits: booleans typed", str(tv["expected"].dtype) == "boolean")
# Versions are text: 3.0 stays "3.0" (read with dtype=str, docs/exports.md).
check("answers: version read as text keeps 3.0", "3.0" in set(a["version"]), set(a["version"]))
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

# qs.csv holds every submitted form: each answer of answers.csv is a qs.csv row with the same
# value (QSGRPID = response_id, QSSPID = lesion_id, QSTEST = item without a mapping file).
qs_keyed = qs.rename(columns={"QSGRPID": "response_id", "QSSPID": "lesion_id", "QSTEST": "item"})
joined = a.merge(qs_keyed, on=["response_id", "lesion_id", "item"], how="left", indicator=True)
check("answers -> qs.csv: every answer of every submitted form has its qs row",
      (joined["_merge"] == "both").all(), joined[joined["_merge"] != "both"][["response_id", "item"]].head())
check("answers -> qs.csv: the value is QSORRES", (joined["value"] == joined["QSORRES"]).all())
check("qs: one row per response, item and lesion",
      not qs[qs["QSGRPID"] != ""].duplicated(["QSGRPID", "QSTEST", "QSSPID"]).any())
check("qs: QSEVLINT are ISO 8601 durations, without an apostrophe",
      qs["QSEVLINT"].str.fullmatch(r"(-?P[0-9A-Z]+)?").all(), set(qs["QSEVLINT"]))
nrs_missed = qs[(qs["QSCAT"] == "nrs-lesion-pain") & (qs["QSGRPID"] == "")]
check("qs: a missed per-lesion NRS names its lesion", (nrs_missed["QSSPID"] != "").all() and len(nrs_missed) > 0)
check("qs.QSSPID -> lesions", set(qs["QSSPID"]) - {""} <= lesions)
# Staff ids decode through staff.csv (no emails in it).
staff_ids = set(st["staff_id"])
check("answers.actor_id (staff) -> staff.csv", set(a[a["actor_kind"] == "staff"]["actor_id"]) <= staff_ids)
check("amendments.amended_by -> staff.csv", set(am["amended_by"]) - {""} <= staff_ids)
check("events.recorded_by -> staff.csv", set(e["recorded_by"]) - {""} <= staff_ids)
check("analgesics.recorded_by -> staff.csv", set(an["recorded_by"]) - {""} <= staff_ids)
check("staff.csv: no email", not st.apply(lambda col: col.str.contains("@")).any().any())
# Pain: a category for every judged reading (not_evaluable with the reason), and what
# progression rests on.
judged = p[p["progression"] != ""]
check("pain: every judged reading has a category", (judged["category"] != "").all())
check("pain: not_evaluable category iff a reason",
      ((p["category"] == "not_evaluable") == (p["not_evaluable"] != "")).all())
check("pain: progression_basis with every progression", ((judged["progression_basis"] != "")).all()
      and set(judged["progression_basis"]) <= {"pain_and_analgesics", "pain_only"})

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
