"""FHIR rest-hook Subscription check (#26.3, #26.4; docs/fhir.md "Subscriptions"): starts epro on
a fresh database with a one-second jobs tick and a short back-off, runs a small webhook receiver
(http.server in a thread), registers a FHIR client and a Subscription
(QuestionnaireResponse?status=completed) pointing at the receiver, completes forms through the
API and checks exactly one notification per completed form, each with a valid HMAC-SHA256
signature; then stops the receiver, completes more forms, starts it again and checks that each
of those arrives exactly once too. Notification Bundles are validated with fhir.resources (R4).

Usage: python check_fhir_webhook.py path/to/epro [postgres-admin-url]
Without a PostgreSQL URL the server runs on a SQLite file; with one, on a fresh database
(epro_test_hook_<random>, dropped at the end). Polls with deadlines (the server runs on the real
clock). Exits non-zero naming each failed check.
"""
import base64
import datetime
import hashlib
import hmac
import http.server
import json
import pathlib
import sys
import threading
import time
import zoneinfo

import requests
from cryptography.hazmat.primitives.asymmetric import ec
from fhir.resources import construct_fhir_element

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from epro_ci import Server, check, failures, free_port  # noqa: E402

BIN = sys.argv[1]
PG = sys.argv[2] if len(sys.argv) > 2 else None
FORMS = {
    "eortc-qlq-c30": [{"item": f"q{n}", "value": 1} for n in range(1, 31)],
    "eortc-qlq-bm22": [{"item": f"q{n}", "value": 1} for n in range(31, 53)],
    "nrs-lesion-pain": [],
}

# ---- the receiver: records every notification it accepts ----
received = []
lock = threading.Lock()


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with lock:
            received.append({"id": self.headers.get("x-epro-event-id"), "event": self.headers.get("x-epro-event"),
                             "signature": self.headers.get("x-epro-signature", ""), "body": body})
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


hook_port = free_port()
receiver = None


def start_receiver():
    global receiver
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", hook_port), Hook)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()


def stop_receiver():
    receiver.shutdown()
    receiver.server_close()


def valid_signature(secret, n):
    """What a receiver does (docs/fhir.md): recompute HMAC-SHA256 over "<t>.<body>"."""
    try:
        parts = dict(p.split("=", 1) for p in n["signature"].split(","))
        expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + n["body"], hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300
    except (KeyError, ValueError):
        return False


def focus(n):
    bundle = json.loads(n["body"])
    event = next(p for p in bundle["entry"][0]["resource"]["parameter"] if p["name"] == "notification-event")
    ref = next(p for p in event["part"] if p["name"] == "focus")["valueReference"]["reference"]
    return ref.rsplit("/", 1)[-1]


# ---- the server, with a short tick and back-off (the real clock) ----
server = Server(
    BIN, PG, "epro_test_hook", "hook-admin-password",
    EPRO_JOBS_INTERVAL_SECONDS="1",
    EPRO_JOBS_REMINDERS="false",
    EPRO_JOBS_DIGESTS="false",
    EPRO_FHIR_WEBHOOK_BACKOFF_BASE_SECONDS="1",
    EPRO_FHIR_WEBHOOK_BACKOFF_MAX_SECONDS="2",
    EPRO_FHIR_WEBHOOK_MAX_FAILURES="100",
    EPRO_FHIR_WEBHOOK_TIMEOUT_SECONDS="5",
)
B = server.base
call = server.call


def wait_for(n, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        with lock:
            if len(received) >= n:
                return
        time.sleep(0.1)


try:
    admin = server.admin()
    nurse = server.staff(admin, "nurse@hermes.example", "site_staff", ["ZAS", "UZG"])
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/Brussels")).date()

    # A client of ZAS only (its key is never used here: the client only receives notifications).
    nums = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    b64 = lambda n: base64.urlsafe_b64encode(n.to_bytes(48, "big")).rstrip(b"=").decode()
    jwk = {"kty": "EC", "crv": "P-384", "kid": "hook-1", "alg": "ES384", "use": "sig", "x": b64(nums.x), "y": b64(nums.y)}
    client = call("POST", "/api/v1/fhir/clients", admin, {"name": "hook engine", "jwks": {"keys": [jwk]}, "sites": ["ZAS"], "scopes": ["system/QuestionnaireResponse.rs"]})["id"]
    start_receiver()
    sub = call("POST", f"/api/v1/fhir/clients/{client}/subscriptions", admin,
               {"criteria": "QuestionnaireResponse?status=completed", "endpoint": f"http://127.0.0.1:{hook_port}/hook"})
    secret = sub["secret"]

    count = {"n": 0}

    def complete(site):
        """Enrol a participant at `site` who completes the baseline; returns the response ids."""
        count["n"] += 1
        sid = f"HERMES-{site}-{count['n']:03d}"
        call("POST", "/api/v1/participants", nurse, {"study_id": sid, "site": site, "language": "nl", "randomization_date": today.isoformat(), "arm": "A"})
        link = call("POST", f"/api/v1/participants/{sid}/access-link", nurse, {"pin": "4826"})["link_token"]
        who = call("POST", "/api/v1/auth/participant", body={"link_token": link, "pin": "4826"})["token"]
        ids = []
        for key, answers in FORMS.items():
            r = requests.post(f"{B}/api/v1/me/visits/BL/responses/{key}/submit", json={"answers": answers},
                         headers={"authorization": f"Bearer {who}", "idempotency-key": f"{sid}-{key}"}, timeout=30)
            if r.status_code != 200:
                raise SystemExit(f"submit {sid} {key}: {r.status_code} {r.text}")
            ids.append(r.json()["response_id"])
        return ids

    def exactly_once(label, expected):
        with lock:
            got = list(received)
        focuses = [focus(n) for n in got]
        check(f"{label}: one notification per completed form ({len(expected)})",
              sorted(focuses) == sorted(expected), f"{len(focuses)} received")
        check(f"{label}: event ids all different", len({n['id'] for n in got}) == len(got))
        check(f"{label}: every signature valid", all(valid_signature(secret, n) for n in got))
        check(f"{label}: event is completed", all(n["event"] == "completed" for n in got))
        bad = []
        for n in got:
            try:
                construct_fhir_element("Bundle", json.loads(n["body"]))
            except Exception as exc:  # report every invalid notification
                bad.append(str(exc)[:300])
        check(f"{label}: notification Bundles valid R4", not bad, "; ".join(bad[:2]))

    # ---- forms completed while the receiver is up; a UZG form is never sent ----
    expected = complete("ZAS") + complete("ZAS")
    complete("UZG")
    wait_for(len(expected))
    time.sleep(3)  # a few more ticks: nothing may arrive twice
    exactly_once("receiver up", expected)

    # ---- the receiver is down while more forms are completed, then back ----
    stop_receiver()
    expected += complete("ZAS") + complete("ZAS")
    time.sleep(4)  # several failed attempts with the short back-off
    with lock:
        during = len(received)
    check("nothing received while the receiver was down", during == 6, str(during))
    start_receiver()
    wait_for(len(expected))
    time.sleep(4)
    exactly_once("after the receiver was down", expected)
    state = call("GET", "/api/v1/fhir/subscriptions", admin)
    check("the subscription is active again with no failure counted", state[0]["status"] == "active" and state[0]["failures"] == 0, json.dumps(state))
finally:
    server.stop()

server_log = server.log_path.read_text()
if "panicked" in server_log:
    check("server did not panic", False, server_log[-2000:])
if "whsec_" in server_log:
    check("the signing secret never reaches the log", False)
print(f"{len(failures)} failed" if failures else "FHIR webhook check passed")
sys.exit(1 if failures else 0)
