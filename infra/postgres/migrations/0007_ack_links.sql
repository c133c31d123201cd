-- Acknowledge links from the notifier's e-mails (issue 18): each is honoured once. The
-- gateway claims a link by inserting its notification id; a second use finds the row and is
-- told when the first was. Rows are history: the gateway may insert and read, never change.
CREATE TABLE ack_links (
    notification_id text PRIMARY KEY,
    task_id text NOT NULL,
    person text NOT NULL,
    used_at timestamptz NOT NULL
);
