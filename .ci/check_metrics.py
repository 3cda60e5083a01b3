"""Parse a scrape of epro's /metrics with the Prometheus project's own parser (prometheus_client)
and check the documented families are there, with no personal data in any label.

    python check_metrics.py SCRAPE_FILE
"""
import ipaddress
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

# Families present on a freshly started server (counters of events that have not happened yet,
# such as submissions, appear once they happen; tests/api/metrics.rs checks those after a walk).
EXPECTED = {
    "epro_http_requests": "counter",
    "epro_http_request_duration_seconds": "histogram",
    "epro_db_connections": "gauge",
    "epro_db_connections_max": "gauge",
    "epro_reminders": "gauge",
    "epro_sms_messages": "gauge",
    "epro_outbox_oldest_due_seconds": "gauge",
    "epro_process_resident_memory_bytes": "gauge",
    "epro_build_info": "gauge",
}

text = open(sys.argv[1], encoding="utf-8").read()
families = {f.name: f for f in text_string_to_metric_families(text)}
for name, kind in EXPECTED.items():
    assert name in families, f"{name} missing from the scrape ({sorted(families)})"
    assert families[name].type == kind, f"{name} is a {families[name].type}, expected {kind}"

routes = {s.labels.get("route") for s in families["epro_http_requests"].samples}
assert "/healthz" in routes, routes
personal = re.compile(r"HERMES-|@|^[A-Za-z0-9_-]{32,}$")
for family in families.values():
    for sample in family.samples:
        for key, value in sample.labels.items():
            assert not personal.search(value), f"{sample.name} {key}={value}"
            try:
                ipaddress.ip_address(value)
            except ValueError:
                pass
            else:
                raise AssertionError(f"{sample.name} {key}={value} is an address")
rss = families["epro_process_resident_memory_bytes"].samples[0].value
assert rss > 1e6, rss
print(f"metrics: ok ({len(families)} families parsed by prometheus_client, no personal labels)")
