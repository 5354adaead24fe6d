-- The gateway's transactional outbox: the transaction that creates a chat or
-- changes its members inserts the log event describing the change here, and a
-- relay publishes the rows to the log in id order after commit and deletes
-- each once the log acknowledged it (gateway/internal/outbox). A change and
-- its event therefore commit or roll back together. Rows of one chat are
-- inserted under that chat's row lock, so their ids follow commit order.

-- +goose Up
CREATE TABLE IF NOT EXISTS outbox (
  id         BIGINT       NOT NULL AUTO_INCREMENT,
  subject    VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  -- Nats-Msg-Id: fixed when the row is written, so that a row published again
  -- after a crash (before its delete) is dropped by the stream's duplicate window
  msg_id     VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  payload    MEDIUMBLOB   NOT NULL,  -- the event envelope as JSON
  created_at DATETIME(3)  NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE IF EXISTS outbox;
