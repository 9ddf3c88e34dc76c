#!/usr/bin/env bash
# Make sure the servers the scale-out tests start are installed: Debian's redis-server and
# PostgreSQL server (its binaries in /usr/lib/postgresql/<version>/bin, and the `postgres` user
# that runs a throw-away cluster when the tests run as root). The S3 server (moto) comes with the
# Python test extra. The tests start and stop these themselves (tests/services.py); nothing here
# starts a service. Fails loudly when something cannot be installed.
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || missing+=(postgresql)
[[ $(id -u) -ne 0 ]] || getent passwd postgres >/dev/null || missing+=(postgresql)
[[ ${#missing[@]} -eq 0 ]] && exit 0

fail() { echo "error: ${missing[*]} missing and $1" >&2; exit 1; }

command -v apt-get >/dev/null || fail "this is not a Debian-like system: install Redis and PostgreSQL yourself"
if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  fail "installing them needs root: run 'apt-get install redis-server postgresql' as root"
fi

echo "installing Debian's ${missing[*]} for the scale-out tests" >&2
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server postgresql
command -v redis-server >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null \
  || fail "apt-get did not provide them"
