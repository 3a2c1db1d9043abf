#!/usr/bin/env bash
# The API contract, checked from outside: Schemathesis generates requests from the
# OpenAPI document the server serves and checks every answer against it (status
# codes, content types, headers, bodies, and that bad input is refused and good
# input accepted). Needs the cairn binary ($CAIRN_BIN) and schemathesis ($ST).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${CAIRN_BIN:-$here/../../target/debug/cairn}"
st="${ST:-st}"
home="$(mktemp -d)"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$home"; }
trap cleanup EXIT
RUST_BACKTRACE=0 CAIRN_HOME="$home" "$bin" server --port 0 >"$home/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do [ -s "$home/server.json" ] && break; sleep 0.05; done
url="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$home/server.json")"
post() { curl -fsS -X POST -H 'Content-Type: application/json' "$url$1" -d "$2"; }
# Something real for the operations that take a run, a project, a model.
post /api/v1/projects '{"name": "contract", "description": "schemathesis fixture"}' >/dev/null
run="$(post /api/v1/runs '{"project": "contract", "hypothesis": "a fixture for the contract test", "config": {"lr": 0.1}}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
post "/api/v1/runs/$run/metrics" '{"series": [{"key": "loss", "steps": [0, 1, 2], "values": [1.0, 0.5, 0.25]}]}' >/dev/null
curl -fsS -X PUT --data-binary 'weights' "$url/api/v1/runs/$run/artifacts/model.bin" >/dev/null
post /api/v1/models '{"name": "contract-model"}' >/dev/null
post /api/v1/models/contract-model/versions "{\"run_id\": \"$run\", \"source\": \"runs:/$run/model.bin\"}" >/dev/null
export CAIRN_CONTRACT_RUN="$run" CAIRN_CONTRACT_MODEL="contract-model" CAIRN_CONTRACT_STUDY="contract-study"
cd "$here"
set +e
SCHEMATHESIS_HOOKS="$here/hooks.py" "$st" run "$url/api/openapi.json" --checks all --phases examples,coverage,fuzzing --workers 2 \
  --suppress-health-check all --warnings off "$@"
status=$?
set -e
if grep -q panicked "$home/server.log"; then
  echo "--- the server panicked:"; grep -A4 panicked "$home/server.log" | head -n 40
  status=1
elif [ "$status" != 0 ]; then
  echo "--- server log (last lines)"; tail -n 20 "$home/server.log"
fi
exit "$status"
