"""What the FHIR checks in .ci/ share: the check list, an epro server on a fresh SQLite file or
PostgreSQL database, JSON API calls and signed-in staff. Imported by check_fhir.py and
check_fhir_webhook.py (run from any folder: they put .ci/ on the path themselves).
"""
import os
import pathlib
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import requests

ROOT = pathlib.Path(__file__).resolve().parent.parent
failures = []


def check(name, ok, detail=""):
    print(("ok      " if ok else "FAILED  ") + name + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """`epro serve` on a fresh database: a SQLite file in a temporary folder, or, with a
    PostgreSQL admin URL, a database named `<prefix>_<random>` that `stop` drops again.
    `extra` adds or overrides environment settings. Returns when /readyz answers."""

    def __init__(self, binary, pg, prefix, admin_password, **extra):
        self.work = pathlib.Path(tempfile.mkdtemp())
        self.pg = pg
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.admin_password = admin_password
        self.db_name = None
        if pg:
            self.db_name = f"{prefix}_{uuid.uuid4().hex}"
            subprocess.run(["psql", pg, "-qc", f'CREATE DATABASE "{self.db_name}"'], check=True)
            url = urllib.parse.urlparse(pg)
            database_url = urllib.parse.urlunparse(url._replace(path="/" + self.db_name))
        else:
            database_url = f"sqlite://{self.work}/epro.db?mode=rwc"
        env = dict(
            os.environ,
            EPRO_DATABASE_URL=database_url,
            EPRO_DATA_DIR=str(self.work / "data"),
            EPRO_LISTEN=f"127.0.0.1:{self.port}",
            EPRO_BASE_URL=self.base,
            EPRO_BOOTSTRAP_ADMIN_PASSWORD=admin_password,
            EPRO_JOBS_INTERVAL_SECONDS="0",
            RUST_LOG="warn",
        )
        env.update(extra)
        self.log_path = self.work / "server.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([binary, "serve"], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                if requests.get(f"{self.base}/readyz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        if self.db_name:
            subprocess.run(["psql", self.pg, "-qc", f'DROP DATABASE IF EXISTS "{self.db_name}"'], check=False)

    def call(self, method, path, token=None, body=None, expect=200, headers=None):
        """One JSON API call on a fresh connection (a kept-alive one may have been closed
        during a wait); anything but `expect` stops the check with the server's answer."""
        headers = dict(headers or {}, **({"authorization": f"Bearer {token}"} if token else {}))
        r = requests.request(method, self.base + path, json=body, headers=headers, timeout=30)
        if r.status_code != expect:
            raise SystemExit(f"{method} {path}: {r.status_code} {r.text}")
        return r.json() if r.content else None

    def admin(self):
        return self.call("POST", "/api/v1/auth/login", body={"email": "admin@example.org", "password": self.admin_password})["token"]

    def staff(self, admin, email, role, sites):
        """A staff member created by `admin`, past the first sign-in's password change: their token."""
        self.call("POST", "/api/v1/users", admin, {"email": email, "password": "first-password-1", "role": role, "sites": sites})
        first = self.call("POST", "/api/v1/auth/login", body={"email": email, "password": "first-password-1"})["token"]
        self.call("PUT", "/api/v1/auth/password", first, {"current_password": "first-password-1", "new_password": "second-password-2"}, expect=204)
        return self.call("POST", "/api/v1/auth/login", body={"email": email, "password": "second-password-2"})["token"]
