"""An independent reader of epro's CDISC ODM 1.3.2 files (written by tests/api/odm.rs to
EPRO_EXPORT_SAMPLE_DIR/odm/): each file is validated against the official 1.3.2 schema with lxml
(tests/fixtures/odm-1.3.2/), every *OID reference points to something the file defines, every
value of an item with a code list is in that list, the snapshot's values equal answers.csv row
for row, every amended item carries a ReasonForChange, and the transactional files applied in
order (Insert, Update, Upsert) give the snapshot's data: the whole history in one file, and the
same history in two increments.

Usage: python check_odm.py DIR [DIR ...]   (each DIR holds odm/ from one database's test run)
"""
import csv
import pathlib
import sys

from lxml import etree

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMA = etree.XMLSchema(etree.parse(str(ROOT / "tests/fixtures/odm-1.3.2/ODM1-3-2.xsd")))
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def local(el):
    return etree.QName(el).localname


def references(doc):
    """(attribute, value) pairs of every *OID reference that names nothing the file defines."""
    defined = {el.get("OID") for el in doc.iter() if isinstance(el.tag, str) and el.get("OID")}
    dangling = []
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        for k, v in el.attrib.items():
            if k.endswith("OID") and k not in ("OID", "FileOID", "PriorFileOID") and v not in defined:
                dangling.append((local(el), k, v))
    return dangling


def code_list_misses(doc):
    lists = {
        cl.get("OID"): {i.get("CodedValue") for i in cl.findall("odm:CodeListItem", NS)}
        for cl in doc.iterfind(".//odm:CodeList", NS)
    }
    coded = {}
    for d in doc.iterfind(".//odm:ItemDef", NS):
        ref = d.find("odm:CodeListRef", NS)
        if ref is not None:
            coded[d.get("OID")] = ref.get("CodeListOID")
    misses = []
    for i in doc.iterfind(".//odm:ItemData", NS):
        cl = coded.get(i.get("ItemOID"))
        if cl and i.get("Value") is not None and i.get("Value") not in lists.get(cl, set()):
            misses.append((i.get("ItemOID"), i.get("Value"), cl))
    return misses


def form_item(form, oid):
    for i in form.iterfind(".//odm:ItemData", NS):
        if i.get("ItemOID") == oid:
            return i.get("Value")
    return None


def cells(doc):
    """The data after applying the file in document order: (subject, event, form, group, repeat
    key, item) -> value (None when IsNull); missed forms (snapshots only) left out."""
    out = {}
    for s in doc.iterfind(".//odm:SubjectData", NS):
        for e in s.findall("odm:StudyEventData", NS):
            for f in e.findall("odm:FormData", NS):
                if form_item(f, "I.FORM.STATUS") == "missed":
                    continue
                for g in f.findall("odm:ItemGroupData", NS):
                    for i in g.findall("odm:ItemData", NS):
                        key = (s.get("SubjectKey"), e.get("StudyEventOID"), f.get("FormOID"),
                               g.get("ItemGroupOID"), g.get("ItemGroupRepeatKey") or "", i.get("ItemOID"))
                        out[key] = i.get("Value")
    return out


def check_dir(d):
    odm = pathlib.Path(d) / "odm"
    names = ["odm.xml", "odm-transactional.xml", "odm-transactional-1.xml", "odm-transactional-2.xml"]
    docs = {}
    for n in names:
        doc = etree.parse(str(odm / n))
        docs[n] = doc
        valid = SCHEMA.validate(doc)
        check(f"{d}: {n} validates against ODM 1.3.2", valid, str(SCHEMA.error_log.filter_from_errors()[:3]))
        dangling = references(doc)
        check(f"{d}: {n}: every *OID reference resolves", not dangling, str(dangling[:5]))
        misses = code_list_misses(doc)
        check(f"{d}: {n}: every coded value is in its code list", not misses, str(misses[:5]))
    snap = docs["odm.xml"]
    check(f"{d}: snapshot file type", snap.getroot().get("FileType") == "Snapshot")
    # Values equal answers.csv, row for row.
    with open(odm / "answers.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    forms = {}
    for f in snap.iterfind(".//odm:FormData", NS):
        rid = form_item(f, "I.FORM.RESPONSE_ID")
        if rid:
            forms[rid] = f
    check(f"{d}: one FormData per submitted response",
          set(forms) == {r["response_id"] for r in rows}, f"{len(forms)} forms")
    bad = []
    for r in rows:
        f = forms.get(r["response_id"])
        oid = f"I.{r['questionnaire']}.{r['version']}.{r['item']}"
        found = [] if f is None else [
            i for g in f.findall("odm:ItemGroupData", NS)
            if (g.get("ItemGroupRepeatKey") or "") == r["lesion_id"]
            for i in g.findall("odm:ItemData", NS) if i.get("ItemOID") == oid
        ]
        if len(found) != 1 or (found[0].get("Value") or "") != r["value"]:
            bad.append((r["response_id"], oid, r["lesion_id"], r["value"], [x.get("Value") for x in found]))
    check(f"{d}: the snapshot's values equal answers.csv row for row ({len(rows)} rows)", not bad, str(bad[:5]))
    # Every AuditRecord names who, where, when; a form's SourceID is an audit event number.
    sources = [a.findtext("odm:SourceID", namespaces=NS) for a in snap.iterfind(".//odm:FormData/odm:AuditRecord", NS)]
    check(f"{d}: every form's audit record has the audit event's id", sources and all(s and s.isdigit() for s in sources))
    amended = [i for i in snap.iterfind(".//odm:ItemData", NS) if i.find("odm:AuditRecord", NS) is not None]
    check(f"{d}: amended items carry a ReasonForChange",
          amended and all(i.findtext("odm:AuditRecord/odm:ReasonForChange", namespaces=NS) for i in amended),
          f"{len(amended)} amended items")
    updates = [i for i in docs["odm-transactional.xml"].iterfind(".//odm:ItemData[@TransactionType='Update']", NS)]
    check(f"{d}: every Update carries its ReasonForChange",
          updates and all(i.findtext("odm:AuditRecord/odm:ReasonForChange", namespaces=NS) for i in updates))
    # Snapshot == the transactional history, in one file and in two increments.
    want = cells(snap)
    check(f"{d}: one transactional file of the whole history equals the snapshot",
          cells(docs["odm-transactional.xml"]) == want)
    summed = cells(docs["odm-transactional-1.xml"])
    summed.update(cells(docs["odm-transactional-2.xml"]))
    diff = set(summed.items()) ^ set(want.items())
    check(f"{d}: the two increments sum to the snapshot", not diff, str(sorted(diff)[:5]))


for arg in sys.argv[1:]:
    check_dir(arg)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
