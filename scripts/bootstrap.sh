#!/usr/bin/env bash
# Makes a machine ready to run stockflow: node modules, Postgres, Redis and RabbitMQ on their
# default local ports (started when installed but down, installed with apt-get when absent),
# a compiled build, the database with every service's migrations, and the broker topology.
# Idempotent: a second run changes nothing. Services given by URL (DATABASE_URL, AMQP_URL,
# REDIS_URL pointing elsewhere) are used as they are and never started or installed here.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[36m[bootstrap]\033[0m %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  local port=$1 name=$2 i
  for i in $(seq 1 120); do port_open "$port" && return 0; sleep 0.5; done
  log "$name did not open port $port within 60 s"; return 1
}
is_local() { # is_local URL DEFAULT_PORT: true when the URL is unset or points at this host
  local url=${1:-}; [[ -z $url || $url == *"127.0.0.1"* || $url == *"localhost"* ]]
}
apt_install() {
  if [[ $(id -u) -ne 0 ]]; then log "need root to apt-get install $*"; return 1; fi
  log "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}

# --- node modules -----------------------------------------------------------------------
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  # Not `npm ci`: the registry here serves only this platform's optional native bindings
  # (e.g. @unrs/resolver-binding-*), so the lockfile cannot list the other platforms' ones and
  # `npm ci` refuses it as "out of sync". `npm install` resolves the same locked versions.
  log "installing node modules (npm install from package-lock.json)"
  npm install --no-audit --no-fund --loglevel=error
fi

# --- PostgreSQL ---------------------------------------------------------------------------
if is_local "${DATABASE_URL:-}"; then
  if ! port_open 5432; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
      apt_install postgresql
      fresh_pg=1
    fi
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
    wait_port 5432 PostgreSQL
    if [[ ${fresh_pg:-0} == 1 ]]; then
      # A fresh Debian cluster asks for passwords on TCP; this is a development machine.
      hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -1)
      sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main reload
    fi
  fi

  # Several worker processes per kind (flood, scaling tests) each keep a pool: 100 is too few.
  if command -v psql >/dev/null && ls /etc/postgresql/*/main >/dev/null 2>&1; then
    max_conn=$(psql -h 127.0.0.1 -U postgres -d postgres -tAc 'SHOW max_connections' 2>/dev/null || echo 0)
    if [[ $max_conn =~ ^[0-9]+$ ]] && (( max_conn > 0 && max_conn < 300 )); then
      log "raising PostgreSQL max_connections from $max_conn to 300 (restart)"
      psql -h 127.0.0.1 -U postgres -d postgres -qc 'ALTER SYSTEM SET max_connections = 300'
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main restart
      wait_port 5432 PostgreSQL
    fi
  fi
fi

# --- Redis ---------------------------------------------------------------------------------
if is_local "${REDIS_URL:-}" && ! port_open 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379 Redis
fi

# --- RabbitMQ ------------------------------------------------------------------------------
if is_local "${AMQP_URL:-}"; then
  if ! port_open 5672; then
    command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
    log "starting RabbitMQ"
    rabbitmq-server -detached
    wait_port 5672 RabbitMQ
  fi
  # Every test, flood and deployment namespace holds dozens of quorum queues, each with open
  # segment files: with the default soft limit of 1024 descriptors RabbitMQ's file handle cache
  # runs out and the broker stops completing new connections (seen here). Raise it to the hard
  # limit for the broker and restart a running broker that still has the low one.
  if [[ -d /etc/rabbitmq ]] && ! grep -q 'ulimit -n' /etc/rabbitmq/rabbitmq-env.conf 2>/dev/null; then
    printf '# stockflow bootstrap: many quorum queues need more than 1024 file handles\nulimit -n "$(ulimit -Hn)"\n' >> /etc/rabbitmq/rabbitmq-env.conf
  fi
  beam=$(pgrep -f 'beam.smp.*-s rabbit boot' | head -1 || true)
  if [[ -n $beam ]] && (( $(awk '/Max open files/ {print $4}' "/proc/$beam/limits") < 10000 )); then
    log "restarting RabbitMQ with a higher open-files limit"
    timeout 60 rabbitmqctl stop >/dev/null 2>&1 || kill -9 "$beam"
    while kill -0 "$beam" 2>/dev/null; do sleep 0.5; done
    rabbitmq-server -detached
    wait_port 5672 RabbitMQ
  fi
  # The management API gives the ops CLI queue depths, unacked counts and redeliveries.
  if command -v rabbitmq-plugins >/dev/null && ! rabbitmq-plugins list -e -q 2>/dev/null | grep -q rabbitmq_management; then
    log "enabling the RabbitMQ management plugin"
    rabbitmq-plugins enable rabbitmq_management >/dev/null
  fi
fi

# --- build, database, migrations, topology ----------------------------------------------------
npx tsc -b
node scripts/prepare.js
