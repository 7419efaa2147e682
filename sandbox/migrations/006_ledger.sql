-- Money by amount (issue 23): the order says how much of it was refunded and what the platform kept,
-- so the seller's transfer can be reconciled against the order's split; a reversed transfer carries
-- the id of its reversal, as a payout processor's transfer reversal does ('trr_…').

ALTER TABLE orders ADD COLUMN platform_fee_cents integer;
ALTER TABLE orders ADD COLUMN refunded_cents integer NOT NULL DEFAULT 0;
ALTER TABLE seller_transfers ADD COLUMN reversal_id text;
