"""Benchmarks only (benches/run.sh, "FHIR search"): page through every completed
QuestionnaireResponse at /fhir/r4 with _count=100, following each Bundle's `next` link as given,
and print "<pages> <responses> <seconds>".

Usage: python3 benches/fhir_pages.py <base url> <bearer token>
"""
import json
import sys
import time
import urllib.request

base, token = sys.argv[1], sys.argv[2]
url = f"{base}/fhir/r4/QuestionnaireResponse?status=completed&_count=100"
pages = responses = 0
started = time.monotonic()
while url:
    req = urllib.request.Request(url, headers={"authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        bundle = json.load(resp)
    pages += 1
    responses += len(bundle.get("entry", []))
    url = next((l["url"] for l in bundle.get("link", []) if l["relation"] == "next"), None)
print(pages, responses, f"{time.monotonic() - started:.3f}")
