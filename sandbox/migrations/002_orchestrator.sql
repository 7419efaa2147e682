-- Payment-orchestrator tables (the Hyperswitch double). Same database, separate tables.

CREATE TABLE hs_payments (
  payment_id    text PRIMARY KEY,
  client_secret text NOT NULL,
  status        text NOT NULL CHECK (status IN ('requires_payment_method','processing','succeeded','failed')),
  amount        integer NOT NULL CHECK (amount > 0),
  currency      text NOT NULL,
  description   text,
  metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
  connector     text NOT NULL,
  error_code    text,
  error_message text,
  card_last4    text,                     -- never the full number
  card_network  text,
  created       timestamptz NOT NULL,
  updated       timestamptz NOT NULL
);

CREATE TABLE hs_refunds (
  refund_id  text PRIMARY KEY,
  payment_id text NOT NULL REFERENCES hs_payments(payment_id),
  status     text NOT NULL CHECK (status IN ('pending','succeeded','failed')),
  amount     integer NOT NULL CHECK (amount > 0),
  currency   text NOT NULL,
  reason     text,
  created    timestamptz NOT NULL,
  updated    timestamptz NOT NULL
);
CREATE INDEX hs_refunds_payment ON hs_refunds (payment_id);
