"""Strategy-meeting bot: convenes child-protection strategy meetings in Microsoft Teams.

`bot.core` is the pure domain (protocol rules, calendars, the plan); everything that
touches the outside world (files, Teams, Graph, the database) lives around it.
"""
