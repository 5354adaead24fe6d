-- Named id counters handed out in blocks. Used only by the gateway's
-- synchronous send mode (GATEWAY_SEND_MODE=sync, the benchmark's baseline of
-- the design without a log): there no stream sequence exists to be a
-- message's id, so ids come from here instead (store.ReserveIDs).

-- +goose Up
CREATE TABLE IF NOT EXISTS id_blocks (
  name VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  next BIGINT      NOT NULL,  -- the first id not handed out yet
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE IF EXISTS id_blocks;
