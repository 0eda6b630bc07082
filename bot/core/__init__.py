"""The pure core: no I/O, no botbuilder types, no database sessions."""
