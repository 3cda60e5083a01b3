"""Cost of SQLite's synchronous=FULL against NORMAL in WAL mode (what epro uses), on this disk:
N small write transactions committed one by one, as submissions are. Prints commits per second
and the ratio FULL / NORMAL. usage: python3 benches/sqlite_sync.py [N]"""
import os, sqlite3, sys, tempfile, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
rates = {}
for mode in ("NORMAL", "FULL"):
    d = tempfile.mkdtemp(dir=os.environ.get("TMPDIR", "/var/tmp"))
    db = sqlite3.connect(os.path.join(d, "b.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={mode}")
    db.execute("CREATE TABLE answer (id INTEGER PRIMARY KEY, item TEXT, value TEXT)")
    start = time.perf_counter()
    for i in range(N):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO answer (item, value) VALUES (?, ?)", (f"q{i % 30}", str(i % 4)))
        db.execute("COMMIT")
    rates[mode] = N / (time.perf_counter() - start)
    db.close()
    print(f"synchronous={mode}: {rates[mode]:,.0f} commits/s")
print(f"FULL / NORMAL = {rates['FULL'] / rates['NORMAL']:.2f}")
