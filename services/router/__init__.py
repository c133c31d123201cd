"""The router's pure core: rule sets, calendars, routing decisions, incident keys, storms."""
