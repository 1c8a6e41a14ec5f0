#!/usr/bin/env bash
# The demo: a simulated Qlik Sense site, then the Butler seed config checked against it.
set -euo pipefail
cd "$(dirname "$0")/.."
LICMON=.venv/bin/licmon
mkdir -p .licmon

echo "== starting the QRS simulator (HTTPS :4242, client certificates in .licmon/certs)"
$LICMON qrs-simulator --cert-dir .licmon/certs --port 4242 --valid-to +30 \
  >.licmon/simulator.log 2>&1 &
simulator=$!
trap 'kill $simulator 2>/dev/null; wait $simulator 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q "^serving" .licmon/simulator.log 2>/dev/null && break
  kill -0 $simulator 2>/dev/null || { cat .licmon/simulator.log; exit 1; }
  sleep 0.1
done

echo "== licmon config validate --config config/butler-seed.yaml"
$LICMON config validate --config config/butler-seed.yaml
echo "== licmon check --config config/butler-seed.yaml"
set +e
$LICMON check --config config/butler-seed.yaml
code=$?
echo "== exit code $code (0 ok, 1 warning, 2 expired, 3 unknown): 30 days left, threshold 60"
$LICMON check --config config/butler-seed.yaml --json 2>/dev/null
exit 0
