#!/usr/bin/env bash
# Times a 3-year daily generate-slots request (1,096 slots) against a release
# server. Usage: scripts/measure-slot-generation.sh DATABASE_URL PORT
# (an empty database; run `cargo build --release` first).
set -euo pipefail
URL=$1; PORT=$2
ADMIN_EMAIL=bench@example.com ADMIN_PASSWORD="bench password 1" DATABASE_URL=$URL BIND_ADDR=127.0.0.1:$PORT "$(dirname "$0")/../target/release/tourdesk" serve >/dev/null 2>&1 &
PID=$!
for i in $(seq 1 50); do curl -sf localhost:$PORT/readyz >/dev/null && break; sleep 0.2; done
TOKEN=$(curl -s localhost:$PORT/api/auth/login -H 'content-type: application/json' -d '{"email":"bench@example.com","password":"bench password 1"}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
H="authorization: Bearer $TOKEN"
TOUR=$(curl -s localhost:$PORT/api/calendar/admin/tours -H "$H" -H 'content-type: application/json' -d '{"name":"Gen","duration_minutes":120,"base_price":50}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
S=$(curl -s localhost:$PORT/api/calendar/admin/schedules -H "$H" -H 'content-type: application/json' -d "{\"tour_id\":$TOUR,\"name\":\"Daily\",\"start_time\":\"09:00:00\",\"recurrence\":\"daily\",\"max_capacity\":20,\"valid_from\":\"2027-01-01\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
curl -s -o /tmp/tourdesk-generate.json -w "time_total=%{time_total}s\n" -X POST "localhost:$PORT/api/calendar/admin/schedules/$S/generate-slots?start_date=2027-01-01&end_date=2029-12-31" -H "$H"
python3 -c 'import json;r=json.load(open("/tmp/tourdesk-generate.json"));print("created",r["created"])'
kill $PID
