"""Validate FHIR R4 resources written by epro with an independent library (fhir.resources, R4).

Usage: python validate_fhir.py DIR  — every *.json below DIR must parse as a FHIR R4 resource of
the type it names. Exits non-zero and names each file that fails.
"""
import json
import pathlib
import sys

from fhir.resources import construct_fhir_element

failed = 0
files = sorted(pathlib.Path(sys.argv[1]).rglob("*.json"))
for path in files:
    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        construct_fhir_element(data["resourceType"], data)
        print(f"valid FHIR R4 {data['resourceType']}: {path}")
    except Exception as exc:  # report every invalid file, then fail
        failed += 1
        print(f"INVALID {path}: {exc}")
if not files:
    print("no FHIR files to validate")
    sys.exit(1)
print(f"{len(files) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
