-- Marketplace tables. Timestamps are kept at millisecond precision because the API
-- speaks ISO-8601 with milliseconds and webhook ordering compares them.

CREATE TABLE users (
  id            text PRIMARY KEY,
  email         text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  role          text NOT NULL CHECK (role IN ('buyer', 'seller', 'admin')),
  created_at    timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
);

CREATE TABLE products (
  id           text PRIMARY KEY,
  title        text NOT NULL,
  description  text NOT NULL,
  price_cents  integer NOT NULL CHECK (price_cents > 0),
  currency     text NOT NULL,
  vat_rate     numeric(6,4) NOT NULL CHECK (vat_rate >= 0 AND vat_rate < 1),
  seller_id    text NOT NULL REFERENCES users(id),
  license_type text NOT NULL,
  rights       jsonb NOT NULL
);

CREATE TABLE access_tokens (
  token_hash text PRIMARY KEY,            -- sha256 of the opaque token; the token itself is never stored
  user_id    text NOT NULL REFERENCES users(id),
  kind       text NOT NULL CHECK (kind IN ('access', 'refresh')),
  expires_at timestamptz NOT NULL
);

CREATE TABLE login_attempts (
  id         bigserial PRIMARY KEY,
  email      text NOT NULL,
  at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX login_attempts_email_at ON login_attempts (email, at);

CREATE TABLE orders (
  id                     text PRIMARY KEY,
  status                 text NOT NULL CHECK (status IN ('pending','processing','completed','failed','refund_pending','refunded')),
  buyer_id               text NOT NULL REFERENCES users(id),
  product_id             text NOT NULL REFERENCES products(id),
  seller_id              text NOT NULL REFERENCES users(id),
  subtotal_cents         integer NOT NULL,
  vat_rate               numeric(6,4) NOT NULL,
  vat_cents              integer NOT NULL,
  total_cents            integer NOT NULL,
  currency               text NOT NULL,
  hyperswitch_payment_id text NOT NULL UNIQUE,
  payment_url            text NOT NULL,
  payment_updated        timestamptz,   -- object.updated of the last payment event applied
  refund_id              text,
  refund_status          text CHECK (refund_status IN ('pending','succeeded','failed')),
  refund_updated         timestamptz,   -- object.updated of the last refund event applied
  failure_reason         text,
  created_at             timestamptz NOT NULL,
  updated_at             timestamptz NOT NULL,
  completed_at           timestamptz,
  refunded_at            timestamptz
);
CREATE INDEX orders_buyer ON orders (buyer_id);

CREATE TABLE licenses (
  id           text PRIMARY KEY,
  order_id     text NOT NULL UNIQUE REFERENCES orders(id),
  buyer_id     text NOT NULL REFERENCES users(id),
  product_id   text NOT NULL REFERENCES products(id),
  license_type text NOT NULL,
  rights       jsonb NOT NULL,
  granted_at   timestamptz NOT NULL,
  revoked_at   timestamptz
);

CREATE TABLE seller_transfers (
  id                 text PRIMARY KEY,
  order_id           text NOT NULL,
  seller_id          text NOT NULL,
  amount             integer NOT NULL,
  currency           text NOT NULL,
  stripe_transfer_id text,
  status             text NOT NULL CHECK (status IN ('pending','paid','reversed')),
  created_at         timestamptz NOT NULL,
  reversed_at        timestamptz
);
CREATE UNIQUE INDEX seller_transfers_order ON seller_transfers (order_id);

CREATE TABLE refunds (
  id           text PRIMARY KEY,          -- the orchestrator's ref_… id
  order_id     text NOT NULL REFERENCES orders(id),
  status       text NOT NULL CHECK (status IN ('pending','succeeded','failed')),
  amount_cents integer NOT NULL,
  currency     text NOT NULL,
  reason       text,
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL
);

CREATE TABLE idempotency_keys (
  user_id      text NOT NULL REFERENCES users(id),
  scope        text NOT NULL,             -- 'orders' or 'refund:<order id>'
  key          text NOT NULL,
  request_hash text NOT NULL,
  resource_id  text,                      -- NULL while the first request is still in flight
  created_at   timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  PRIMARY KEY (user_id, scope, key)
);

CREATE TABLE webhook_events (
  event_id    text PRIMARY KEY,
  event_type  text NOT NULL,
  resource_id text,
  received_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
  applied     boolean NOT NULL,
  reason      text
);
