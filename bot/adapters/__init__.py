"""Adapters: everything that connects the pure core (`bot.core`) to the outside world —
the database, Teams, Graph. The core never imports from here."""
