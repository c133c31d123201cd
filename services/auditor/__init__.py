"""The auditor: replay the event log into an isolated schema, verify the history, report SLAs."""
