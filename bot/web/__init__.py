"""Web pages the bot serves to people outside Teams (the answer page)."""
