#!/usr/bin/env python3
"""Benchmarks only (docs/benchmarks.md): accounts and participants on a running epro server.

    benches/setup.py BASE_URL ADMIN_PASSWORD OUT_DIR SUBMITTERS

Writes OUT_DIR/tokens.json (data manager token) and OUT_DIR/submissions.txt: one line per
request of a full participant submission (C30 + BM22 + the NRS for two lesions), as
"path<TAB>participant token<TAB>idempotency key<TAB>JSON body", for examples/bench_submit.rs.
Python standard library only.
"""
import json
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

BASE, ADMIN_PW, OUT, N = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def call(method, path, token=None, body=None, headers=None):
    req = urllib.request.Request(BASE + path, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(req, data) as r:
        text = r.read()
        return json.loads(text) if text else None


def login(email, pw):
    return call("POST", "/api/v1/auth/login", body={"email": email, "password": pw})["token"]


admin = login("admin@example.org", ADMIN_PW)
tokens = {}
for role, sites in [("data_manager", []), ("site_staff", ["ZAS"])]:
    email = f"bench-{role}@example.org"
    call("POST", "/api/v1/users", admin, {"email": email, "password": "first-password-1", "role": role, "sites": sites})
    first = login(email, "first-password-1")
    call("PUT", "/api/v1/auth/password", first, {"current_password": "first-password-1", "new_password": "bench-password-2"})
    tokens[role] = login(email, "bench-password-2")
nurse = tokens["site_staff"]
today = datetime.now(ZoneInfo("Europe/Brussels")).date().isoformat()
c30 = call("GET", "/api/v1/questionnaires/eortc-qlq-c30/3.0?lang=nl", nurse)
bm22 = call("GET", "/api/v1/questionnaires/eortc-qlq-bm22/1.0?lang=nl", nurse)


def answers(defn):
    out = []
    for item in defn["items"]:
        if item.get("options"):
            out.append({"item": item["id"], "value": item["options"][0]["code"]})
    return out


def participant(n):
    sid = f"HERMES-ZAS-{900000 + n:06d}"
    call("POST", "/api/v1/participants", nurse, {"study_id": sid, "site": "ZAS", "language": "nl", "randomization_date": today, "arm": "A"})
    lesions = []
    for loc, label in [("L3", "onderrug"), ("sacrum", "heiligbeen")]:
        l = call("POST", f"/api/v1/participants/{sid}/lesions", nurse,
                 {"location": loc, "labels": {"nl": label, "fr": label, "en": label}, "high_risk_reasons": ["size_2cm"]})
        lesions.append(l["id"])
    link = call("POST", f"/api/v1/participants/{sid}/access-link", nurse, {"pin": "4826"})
    tok = call("POST", "/api/v1/auth/participant", body={"link_token": link["link_token"], "pin": "4826"})["token"]
    nrs = [{"item": "worst_pain", "lesion": lid, "value": 4} for lid in lesions]
    lines = []
    for key, body in [("eortc-qlq-c30", {"answers": answers(c30)}), ("eortc-qlq-bm22", {"answers": answers(bm22)}),
                      ("nrs-lesion-pain", {"answers": nrs})]:
        lines.append("\t".join([f"/api/v1/me/visits/BL/responses/{key}/submit", tok, f"bench-{n}-{key}", json.dumps(body)]))
    return lines


with ThreadPoolExecutor(max_workers=4) as pool:
    all_lines = [line for lines in pool.map(participant, range(N)) for line in lines]
with open(f"{OUT}/submissions.txt", "w") as f:
    f.write("\n".join(all_lines) + "\n")
with open(f"{OUT}/tokens.json", "w") as f:
    json.dump(tokens, f)
print(f"{N} participants, {len(all_lines)} submission requests")
