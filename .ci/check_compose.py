"""docker-compose.yml starts: the epro service's environment, with every `${NAME:?…}` the
operator must set filled in, must be enough for the real server to start in production.

Where Docker Compose is installed, `docker compose config` also checks the file's syntax. Where
it is not (this CI machine has no Docker engine), the server is started from the compose file's
environment directly: the database and listen address are pointed at a temporary SQLite file and
a loopback port, and the image's paths (Dockerfile ENV) at the checkout. The server must answer
/readyz, and must refuse to start when any required key is left out.

usage: check_compose.py EPRO_BINARY
"""

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIRED = re.compile(r"^\$\{(\w+):\?[^}]*\}$")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment():
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    env, required = {}, []
    for name, value in compose["services"]["epro"]["environment"].items():
        value = "" if value is None else str(value)
        m = REQUIRED.match(value)
        if m:
            required.append(m.group(1))
            value = secrets.token_hex(32)
        elif "${" in value:
            sys.exit(f"docker-compose.yml: {name} uses a variable without a required-check: {value}")
        env[name] = value
    return env, required


def start(binary, env, workdir):
    port = free_port()
    env = dict(env)
    env.update(
        EPRO_DATABASE_URL=f"sqlite://{workdir}/epro.db?mode=rwc",
        EPRO_LISTEN=f"127.0.0.1:{port}",
        EPRO_STUDY_FILE=os.path.join(ROOT, "studies/hermes.toml"),
        EPRO_QUESTIONNAIRES_DIR=os.path.join(ROOT, "questionnaires"),
        EPRO_DATA_DIR=os.path.join(workdir, "data"),
        EPRO_JOBS_INTERVAL_SECONDS="0",
        EPRO_BOOTSTRAP_ADMIN_PASSWORD="compose-check-password",
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EPRO_")}
    clean.update(env)
    log = open(os.path.join(workdir, "server.log"), "w+")
    proc = subprocess.Popen([binary, "serve"], env=clean, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    return proc, port, log


def main():
    binary = sys.argv[1]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        keys = {k: secrets.token_hex(32) for k in ("EPRO_AUDIT_KEY", "EPRO_DATA_KEY", "EPRO_ARCHIVE_KEY")}
        subprocess.run(["docker", "compose", "config", "-q"], cwd=ROOT, check=True, env={**os.environ, **keys})
        print("docker compose config: ok")
    env, required = environment()
    if env.get("EPRO_ENV") != "production":
        sys.exit("docker-compose.yml: the epro service must run with EPRO_ENV=production")
    for name in ("EPRO_AUDIT_KEY", "EPRO_DATA_KEY", "EPRO_ARCHIVE_KEY"):
        if name not in required:
            sys.exit(f"docker-compose.yml: {name} is required in production but not set as ${{{name}:?…}}")

    workdir = tempfile.mkdtemp()
    proc, port, log = start(binary, env, workdir)
    try:
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)
                sys.exit(f"the server did not start from docker-compose.yml's environment:\n{log.read()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("the server did not answer /readyz within 60 s")
            time.sleep(0.3)
        print(f"compose: the production server starts from docker-compose.yml's environment ({', '.join(required)} set)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    # And each required key is really required: without it, production refuses to start.
    for name in required:
        partial = {k: v for k, v in env.items() if k != name}
        d = tempfile.mkdtemp()
        proc, _, log = start(binary, partial, d)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            sys.exit(f"the server started without {name}")
        log.seek(0)
        out = log.read()
        if code == 0 or name not in out:
            sys.exit(f"without {name} the server should refuse to start naming it; exit {code}:\n{out}")
        shutil.rmtree(d, ignore_errors=True)
    print("compose: without any one of them, production refuses to start and names the key")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
