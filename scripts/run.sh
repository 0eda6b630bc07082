#!/usr/bin/env bash
# The one-command demo: set up (.venv, Node.js packages), check the area profiles, run the bot
# with embedded defaults (http://127.0.0.1:3978/api/messages, SQLite, Bot Framework auth off
# unless MicrosoftAppId is set) and Microsoft 365 Agents Playground, a Teams client emulator,
# pointing at it; print the address to open in a browser; Ctrl-C stops both.
#
# Without npm (or with STRATBOT_PLAYGROUND=0, or MicrosoftAppId set) it runs the bot alone and
# says why. Settings (the README lists them): PORT/HOST (the bot), PLAYGROUND_PORT (default
# 56150), DATABASE_URL, STRATBOT_PLAYGROUND, MicrosoftAppId, PYTHON (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

bash scripts/setup.sh
.venv/bin/python -m bot check-config

bot_alone() {
  echo "The Teams emulator (Microsoft 365 Agents Playground) is not started: $1" >&2
  echo "Running the bot alone on http://${HOST:-127.0.0.1}:${PORT:-3978}/api/messages" >&2
  exec .venv/bin/python -m bot serve
}

if [ "${STRATBOT_PLAYGROUND:-1}" = "0" ]; then
  bot_alone "STRATBOT_PLAYGROUND=0."
fi
if [ -n "${MicrosoftAppId:-}" ]; then
  bot_alone "MicrosoftAppId is set, so the bot accepts only Bot Framework tokens, which the emulator does not send."
fi
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  bot_alone "npm and Node.js are needed for it (install Node.js 20 or later, then run this again)."
fi
if ! bash scripts/setup_node.sh; then
  echo "Installing the Node.js packages failed (see above)." >&2
fi
PLAYGROUND_CLI=e2e/node_modules/@microsoft/m365agentsplayground/cli.js
if [ ! -f "$PLAYGROUND_CLI" ]; then
  bot_alone "its npm package is not installed (bash scripts/setup_node.sh installs it into e2e/node_modules)."
fi

# The Playground keeps its chats in memory, so a bot database from an earlier run would point
# at chats that no longer exist: the demo starts from a fresh database unless DATABASE_URL is set.
DEMO_DIR="$ROOT/var/playground"
mkdir -p "$DEMO_DIR"
if [ -z "${DATABASE_URL:-}" ]; then
  rm -f "$DEMO_DIR/demo.sqlite3"
  export DATABASE_URL="sqlite:///$DEMO_DIR/demo.sqlite3"
  DB_NOTE="var/playground/demo.sqlite3 (fresh each run)"
else
  DB_NOTE="$DATABASE_URL"
fi
export HOST=${HOST:-127.0.0.1} PORT=${PORT:-3978}
PLAYGROUND_PORT=${PLAYGROUND_PORT:-56150}
: > "$DEMO_DIR/events.log"
: > "$DEMO_DIR/stdout.log"

BOT_PID="" PG_PID=""
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
stop() {  # $1: "INT" when Ctrl-C, which the bot has received too and is already acting on
  trap - INT TERM EXIT
  echo >&2
  echo "Stopping the Playground and the bot..." >&2
  alive "$PG_PID" && kill -TERM "$PG_PID" 2>/dev/null
  if [ "${1:-}" = "INT" ]; then
    for _ in $(seq 1 50); do alive "$BOT_PID" || break; sleep 0.2; done
  fi
  alive "$BOT_PID" && kill -TERM "$BOT_PID" 2>/dev/null
  for pid in $PG_PID $BOT_PID; do wait "$pid" 2>/dev/null || true; done
}
trap 'stop INT; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

.venv/bin/python -m bot serve &
BOT_PID=$!
BOT_URL="http://$HOST:$PORT"
if ! .venv/bin/python - "$BOT_URL/healthz" <<'EOF'
import signal, sys, time, urllib.request
signal.signal(signal.SIGINT, lambda *_: sys.exit(130))  # Ctrl-C: the script's trap speaks
for _ in range(120):
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.5)
sys.exit(1)
EOF
then
  echo "The bot did not start (see its log above)." >&2
  exit 1
fi

# The Playground reads e2e/.m365agentsplayground.yml (its mock tenant); it records every
# exchange with the bot in var/playground/events.log, which e2e/agencies.js reads.
(cd e2e && TEAMSAPPTESTER_BROWSER=none \
  M365_AGENTS_PLAYGROUND_CONFIG_PATH="$ROOT/e2e/.m365agentsplayground.yml" \
  M365_AGENTS_PLAYGROUND_LOGFILE="$DEMO_DIR/playground.log" \
  M365_AGENTS_PLAYGROUND_RECORDING_FILE="$DEMO_DIR/events.log" \
  exec node "$ROOT/$PLAYGROUND_CLI" start --app-endpoint "$BOT_URL/api/messages" --channel-id msteams \
    --port "$PLAYGROUND_PORT" --disable-telemetry --enable-events-recording >>"$DEMO_DIR/stdout.log" 2>&1) &
PG_PID=$!
LISTENING=""
for _ in $(seq 1 120); do
  LISTENING=$(sed -n 's/^Listening on \([0-9][0-9]*\).*/\1/p' "$DEMO_DIR/stdout.log" | head -1)
  [ -n "$LISTENING" ] && break
  kill -0 "$PG_PID" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$LISTENING" ]; then
  echo "The Playground did not start; its output:" >&2
  cat "$DEMO_DIR/stdout.log" >&2
  exit 1
fi
PG_URL="http://127.0.0.1:$LISTENING"
AGENCIES="node e2e/agencies.js --playground $PG_URL"

cat <<EOF

==================================================================================================
 Strategy-meeting bot in Microsoft 365 Agents Playground (a Teams client emulator)

 Open   $PG_URL   in a browser.

 You are "Sam Chairperson", the social worker who requests and chairs the meeting, in a
 1:1 chat with the bot: type  new , fill the form (area Bristol, a case reference, a child,
 a concern, a decision time on a working day between 09:00 and 17:00), press "Work out the
 plan", then "Send invitations". Your status card shows who has answered.

 The agencies are the Playground's mock users, the Bristol office-hours contacts of
 config/directory/bristol.yaml: Alex Fictional (social care), DC Bea Madeup (police),
 Cal Notreal (health), Jo Madeup (education), Dr Dana Pretend (paediatrician).
 The Playground shows only your own chats and cannot switch user, so answer for them from
 another terminal (in $ROOT):
   list the invitations:        $AGENCIES
   one agency accepts:          $AGENCIES accept police
   everyone else accepts:       $AGENCIES accept all
   an agency declines:          $AGENCIES decline health "On leave; ask the duty nurse"
   a colleague goes instead:    $AGENCIES nominate police "PS Bo Pretend" bo.pretend@avon-somerset.police.example
 and watch your status card turn "Quorate".

 Bot: $BOT_URL/api/messages   database: $DB_NOTE
 Logs: var/playground/ (playground.log, events.log)
 Press Ctrl-C to stop both.
==================================================================================================

EOF

set +e
wait -n "$BOT_PID" "$PG_PID"
code=$?
set -e
echo "The bot or the Playground stopped (exit $code)." >&2
exit "$code"
