#!/usr/bin/env bash
# What the tests need beyond Node.js, from Debian's packages, installed only when missing (as root, or with sudo):
# pgbouncer for the tests behind PgBouncer, and promtool (the prometheus package) that parses /metrics and the
# dashboard's PromQL. `pnpm test` and `.ci/run` both run this.
set -euo pipefail

missing=()
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=""
[ "$(id -u)" -eq 0 ] || as_root="sudo"
echo "[system-packages] installing Debian's ${missing[*]} (apt-get${as_root:+, with sudo})"
$as_root apt-get update
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y --no-install-recommends "${missing[@]}"
