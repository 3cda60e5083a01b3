"""FHIR R4 walk with real clients (#26, docs/fhir.md): starts epro on a fresh database, seeds a
two-site trial through the JSON API (participants of ZAS and UZG answer the baseline), registers
a SMART Backend Services client with an ES384 key, obtains tokens with signed client assertions
(PyJWT), and with fhirpy pages through every completed response, searches by questionnaire=url
and url|version and by authored ranges, checks the counts against what the API accepted, and
validates every resource and Bundle with fhir.resources. A replayed assertion and another
site's response must be refused. Observations: for each patient, fetched by code, validated, and
counted against the score rows of scores.csv and the NRS rows of answers.csv (the API's
exports) for that participant.

Usage: python check_fhir.py path/to/epro [postgres-admin-url]
Without a PostgreSQL URL the server runs on a SQLite file; with one, on a fresh database
(epro_test_fhir_<random>, dropped at the end). Exits non-zero naming each failed check.
"""
import csv
import datetime
import io
import pathlib
import sys
import time
import uuid
import zoneinfo

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from fhir.resources import construct_fhir_element
from fhirpy import SyncFHIRClient

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from epro_ci import Server, check, failures  # noqa: E402

BIN = sys.argv[1]
PG = sys.argv[2] if len(sys.argv) > 2 else None
PER_SITE = {"ZAS": 4, "UZG": 3}
FORMS = ("eortc-qlq-c30", "eortc-qlq-bm22", "nrs-lesion-pain")
server = Server(BIN, PG, "epro_test_fhir", "fhir-admin-password")
B = server.base
call = server.call
api = requests.Session()

try:
    # ---- seed: a nurse of both sites enrols participants, who answer the baseline ----
    admin = server.admin()
    nurse = server.staff(admin, "nurse@hermes.example", "site_staff", ["ZAS", "UZG"])
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/Brussels")).date()
    accepted = {"ZAS": 0, "UZG": 0}
    answers = {
        "eortc-qlq-c30": [{"item": f"q{n}", "value": 1} for n in range(1, 31)],
        "eortc-qlq-bm22": [{"item": f"q{n}", "value": 1} for n in range(31, 53)],
    }
    lesions = {}
    for site, n in PER_SITE.items():
        for i in range(1, n + 1):
            sid = f"HERMES-{site}-{i:03d}"
            call("POST", "/api/v1/participants", nurse, {"study_id": sid, "site": site, "language": "nl", "randomization_date": today.isoformat(), "arm": "A"})
            link = call("POST", f"/api/v1/participants/{sid}/access-link", nurse, {"pin": "4826"})["link_token"]
            who = call("POST", "/api/v1/auth/participant", body={"link_token": link, "pin": "4826"})["token"]
            # One lesion, two for every other participant: the NRS is answered per lesion.
            lesions[sid] = [
                call("POST", f"/api/v1/participants/{sid}/lesions", nurse, {
                    "location": loc, "labels": {"nl": f"plek {loc}", "fr": f"endroit {loc}", "en": f"place {loc}"},
                    "high_risk_reasons": ["size_2cm"]})["id"]
                for loc in (("L1", "T12") if i % 2 else ("L1",))
            ]
            answers["nrs-lesion-pain"] = [{"item": "worst_pain", "lesion": lid, "value": 2 + n} for n, lid in enumerate(lesions[sid])]
            for key in FORMS:
                r = api.post(f"{B}/api/v1/me/visits/BL/responses/{key}/submit", json={"answers": answers[key]},
                             headers={"authorization": f"Bearer {who}", "idempotency-key": f"{sid}-{key}"}, timeout=30)
                if r.status_code != 200:
                    raise SystemExit(f"submit {sid} {key}: {r.status_code} {r.text}")
                accepted[site] += 1
    total = sum(accepted.values())

    # ---- a client registers with its public key (ES384) and gets a token ----
    private = ec.generate_private_key(ec.SECP384R1())
    nums = private.public_key().public_numbers()

    def b64(n):
        return jwt.utils.base64url_encode(n.to_bytes(48, "big")).decode()

    jwk = {"kty": "EC", "crv": "P-384", "kid": "engine-1", "alg": "ES384", "use": "sig", "x": b64(nums.x), "y": b64(nums.y)}
    scopes = ["system/QuestionnaireResponse.rs", "system/Patient.rs", "system/Questionnaire.rs", "system/Observation.rs"]
    both = call("POST", "/api/v1/fhir/clients", admin, {"name": "integration engine", "jwks": {"keys": [jwk]}, "sites": ["ZAS", "UZG"], "scopes": scopes})["id"]
    uzg = call("POST", "/api/v1/fhir/clients", admin, {"name": "UZG engine", "jwks": {"keys": [jwk]}, "sites": ["UZG"], "scopes": scopes})["id"]
    smart = requests.get(f"{B}/fhir/r4/.well-known/smart-configuration", timeout=10).json()
    token_url = smart["token_endpoint"]
    check("smart-configuration names the token endpoint under the FHIR base", token_url == f"{B}/fhir/r4/auth/token", token_url)

    def assertion(client, jti=None):
        now = int(time.time())
        return jwt.encode({"iss": client, "sub": client, "aud": token_url, "exp": now + 240, "jti": jti or str(uuid.uuid4())},
                          private, algorithm="ES384", headers={"kid": "engine-1"})

    def token(a):
        return requests.post(token_url, data={
            "grant_type": "client_credentials", "scope": " ".join(scopes),
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": a}, timeout=10)

    first_assertion = assertion(both)
    got = token(first_assertion)
    check("token issued for a signed client assertion", got.status_code == 200, got.text)
    access = got.json()["access_token"]
    check("access token lives 300 s", got.json().get("expires_in") == 300)
    replay = token(first_assertion)
    check("a replayed assertion is refused with 401 invalid_client", replay.status_code == 401 and replay.json().get("error") == "invalid_client", replay.text)

    # ---- fhirpy: every completed response, page by page ----
    base = f"{B}/fhir/r4"
    client = SyncFHIRClient(base, authorization=f"Bearer {access}")
    validated = 0
    invalid = []

    def validate(resource):
        global validated
        try:
            construct_fhir_element(resource["resourceType"], resource)
            validated += 1
        except Exception as exc:  # report every invalid resource
            invalid.append(f"{resource.get('resourceType')}/{resource.get('id')}: {exc}")

    responses = client.resources("QuestionnaireResponse").search(status="completed").limit(5).fetch_all()
    ids = [r["id"] for r in responses]
    check("fhirpy pages through every completed response (as many as the API accepted)", len(ids) == total, f"{len(ids)} != {total}")
    check("no response twice across pages", len(set(ids)) == len(ids))
    check("count (_summary/_count=0) agrees", client.resources("QuestionnaireResponse").search(status="completed").count() == total)
    for r in responses:
        validate(r.serialize())

    # The raw pages: each Bundle validated, next links followed as given.
    url = f"{base}/QuestionnaireResponse?status=completed&_count=4"
    pages = 0
    hdr = {"authorization": f"Bearer {access}"}
    while url:
        page = requests.get(url, headers=hdr, timeout=30)
        check(f"page {pages + 1} is application/fhir+json", page.headers["content-type"].startswith("application/fhir+json"))
        bundle = page.json()
        validate(bundle)
        pages += 1
        url = next((l["url"] for l in bundle.get("link", []) if l["relation"] == "next"), None)
    check("raw paging: ceil(total / 4) pages", pages == -(-total // 4), f"{pages} pages")

    # ---- searches by canonical and by authored ----
    canonical = f"{B}/fhir/Questionnaire/eortc-qlq-c30"
    people = sum(PER_SITE.values())
    qr = client.resources("QuestionnaireResponse")
    check("questionnaire=url finds every C30 response", qr.search(questionnaire=canonical).count() == people)
    check("questionnaire=url|3.0 finds that version's", qr.search(questionnaire=f"{canonical}|3.0").count() == people)
    check("questionnaire=url|9.9 finds none", qr.search(questionnaire=f"{canonical}|9.9").count() == 0)
    check("authored=ge<today> (Brussels) finds all", qr.search(authored=f"ge{today.isoformat()}").count() == total)
    check("authored=lt<today> finds none", qr.search(authored=f"lt{today.isoformat()}").count() == 0)
    tomorrow = today + datetime.timedelta(days=1)
    both_ends = qr.search(authored=[f"ge{today.isoformat()}", f"lt{tomorrow.isoformat()}"]).count()
    check("authored range [today, tomorrow) finds all", both_ends == total, str(both_ends))
    for q in client.resources("Questionnaire").search(url=f"{canonical}|3.0").fetch_all():
        validate(q.serialize())
    patient_ref = responses[0]["subject"]["reference"]
    patient = client.reference(reference=patient_ref).to_resource()
    validate(patient.serialize())
    check("Patient is pseudonymous (no name, telecom)", "name" not in patient and "telecom" not in patient)
    meta = requests.get(f"{base}/metadata", timeout=10).json()
    validate(meta)

    # ---- Observations per patient, by code, against the exports' score and NRS rows ----
    dm = server.staff(admin, "dm@hermes.example", "data_manager", [])

    def export(name):
        r = api.get(f"{B}/api/v1/exports/{name}", headers={"authorization": f"Bearer {dm}"}, timeout=60)
        if r.status_code != 200:
            raise SystemExit(f"export {name}: {r.status_code} {r.text[:300]}")
        return list(csv.DictReader(io.StringIO(r.text)))

    score_rows = [r for r in export("scores.csv") if r["current"] == "true" and r["score"] != ""]
    nrs_rows = [r for r in export("answers.csv") if r["questionnaire"] == "nrs-lesion-pain" and r["item"] == "worst_pain" and r["value"] != ""]
    system = f"{B}/fhir/CodeSystem/HERMES-scales"
    observations = client.resources("Observation")
    by_code_ok, nrs_ok, all_ok = [], [], []
    for sid in lesions:
        pid = client.resources("Patient").search(identifier=sid).first()["id"]
        mine = [r for r in score_rows if r["study_id"] == sid]
        got = 0
        for key in sorted({r["scale_key"] for r in mine}):
            found = observations.search(patient=f"Patient/{pid}", code=f"{system}|{key}").limit(50).fetch_all()
            for o in found:
                validate(o.serialize())
            wanted = sum(1 for r in mine if r["scale_key"] == key)
            by_code_ok.append(len(found) == wanted or f"{sid} {key}: {len(found)} != {wanted}")
            got += len(found)
        all_ok.append(got == len(mine) or f"{sid}: {got} != {len(mine)} score rows")
        every = observations.search(patient=f"Patient/{pid}").limit(7).fetch_all()
        all_ok.append(len(every) == len(mine) or f"{sid}: paged {len(every)} != {len(mine)}")
        pain = observations.search(patient=f"Patient/{pid}", code="NRS_WORST_PAIN").fetch_all()
        want_nrs = sorted((r["lesion_id"], int(r["value"])) for r in nrs_rows if r["study_id"] == sid)
        got_nrs = sorted((o["bodySite"]["extension"][0]["valueString"], o["valueInteger"]) for o in pain)
        nrs_ok.append(got_nrs == want_nrs and len(want_nrs) == len(lesions[sid]) or f"{sid}: {got_nrs} != {want_nrs}")
    bad = [x for x in by_code_ok + all_ok if x is not True]
    check(f"Observations by patient and code match scores.csv ({len(score_rows)} score rows)", not bad and len(score_rows) > 0, "; ".join(map(str, bad[:5])))
    bad = [x for x in nrs_ok if x is not True]
    check("one NRS Observation per lesion, as answers.csv has them", not bad, "; ".join(map(str, bad[:5])))
    obs_bundle = requests.get(f"{base}/Observation?code=NRS_WORST_PAIN&_count=3", headers=hdr, timeout=30).json()
    validate(obs_bundle)
    check("an Observation search answers a searchset Bundle", obs_bundle.get("type") == "searchset")

    # ---- site scoping: a UZG-only client ----
    uzg_token = token(assertion(uzg)).json()["access_token"]
    uzg_client = SyncFHIRClient(base, authorization=f"Bearer {uzg_token}")
    check("a UZG client counts UZG's responses only", uzg_client.resources("QuestionnaireResponse").count() == accepted["UZG"])
    zas = next(r for r in responses if r["subject"]["identifier"]["value"].startswith("HERMES-ZAS"))
    refused = requests.get(f"{base}/QuestionnaireResponse/{zas['id']}", headers={"authorization": f"Bearer {uzg_token}"}, timeout=10)
    check("a UZG client gets 404 for a ZAS response", refused.status_code == 404 and refused.json()["resourceType"] == "OperationOutcome")

    check(f"every resource and Bundle valid ({validated} checked)", not invalid, "; ".join(invalid[:5]))
finally:
    server.stop()

server_log = server.log_path.read_text()
if " 500 " in server_log or "panicked" in server_log:
    check("server answered no 5xx", False, server_log[-2000:])
print(f"{len(failures)} failed" if failures else "FHIR walk passed")
sys.exit(1 if failures else 0)
