#!/usr/bin/env bash
# Set up and run the bot with embedded defaults: http://127.0.0.1:3978/api/messages,
# SQLite under var/, Bot Framework auth off unless MicrosoftAppId is set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m bot check-config
exec .venv/bin/python -m bot serve
