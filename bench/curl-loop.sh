#!/usr/bin/env bash
# The fixed-interval baseline of P2 (issue 7): the original bash walkthrough's way of waiting for
# an order, a `curl` every 5 s with a `sleep` in between, until the status is the target.
#   BENCH_TOKEN=<bearer> bash bench/curl-loop.sh <order url> <target status> [interval s] [max requests]
# Prints one line per request: "<epoch ms when the response arrived> <status seen>".
# The token comes from the environment so that it never shows in `ps`.
# Bounded: at most <max requests> requests; exits 0 when the target was seen, 1 otherwise.
set -u
url=$1
target=$2
interval=${3:-5}
max=${4:-12}
for ((i = 1; i <= max; i++)); do
  body=$(curl -s --max-time 10 -H "authorization: Bearer ${BENCH_TOKEN:-}" -H "accept: application/json" "$url")
  now=$(date +%s%3N)
  # The order's own status is the first "status" key of the body (refund_status comes later).
  status=$(printf '%s' "$body" | grep -o '"status":"[^"]*"' | head -n 1 | cut -d '"' -f 4)
  echo "$now ${status:-?}"
  [ "$status" = "$target" ] && exit 0
  [ "$i" -lt "$max" ] && sleep "$interval"
done
exit 1
