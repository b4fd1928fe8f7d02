#!/usr/bin/env bash
# Makes sure a PostgreSQL server is reachable for the test suite and prints the URL the tests should use
# (AUTHSERVER_TEST_POSTGRESQL). The machines here run one on 127.0.0.1:5432 with trust authentication and a
# database `test`; where none answers, Debian's postgresql is installed and started, with a `test` database
# owned by the current user, reached over the local socket (peer authentication).
# Never stops or reconfigures a server it did not start.
set -euo pipefail

url_works() {
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
from urllib.parse import urlsplit, parse_qs
parts = urlsplit(sys.argv[1])
host = parts.hostname or parse_qs(parts.query).get("host", ["/var/run/postgresql"])[0]
try:
    if host.startswith("/"):
        socket.socket(socket.AF_UNIX).connect(f"{host}/.s.PGSQL.{parts.port or 5432}")
    else:
        socket.create_connection((host, parts.port or 5432), timeout=3).close()
except OSError:
    sys.exit(1)
PY
}

can_query() {
  command -v psql >/dev/null 2>&1 || return 0   # no client to check with: trust the open port
  psql "$1" -qtAc 'SELECT 1' >/dev/null 2>&1
}

me=$(id -un)
tcp_url="postgresql://${me}@127.0.0.1:5432/test"
socket_url="postgresql:///test?host=/var/run/postgresql"

if [ -n "${AUTHSERVER_TEST_POSTGRESQL:-}" ]; then
  echo "$AUTHSERVER_TEST_POSTGRESQL"; exit 0
fi
if url_works "$tcp_url" && can_query "$tcp_url"; then
  echo "$tcp_url"; exit 0
fi
if url_works "$socket_url" && can_query "$socket_url"; then
  echo "$socket_url"; exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "no PostgreSQL reachable and not root to install one" >&2; exit 1
fi
echo "installing and starting Debian's PostgreSQL for the tests" >&2
export DEBIAN_FRONTEND=noninteractive
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
for _ in $(seq 1 30); do url_works "$socket_url" && break; sleep 1; done
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = '${me}'\"" | grep -q 1 \
  || su postgres -c "psql -qc 'CREATE ROLE \"${me}\" SUPERUSER LOGIN'" >&2
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname = 'test'\"" | grep -q 1 \
  || su postgres -c "createdb -O '${me}' test" >&2
echo "$socket_url"
