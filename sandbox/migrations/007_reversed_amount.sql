-- How much of a seller transfer was reversed (minor units), as a payout processor's transfer says it
-- (Stripe's `amount_reversed`): the runbook checks the reversal by this amount, never by the status
-- alone, so a partial reversal cannot read as the whole transfer returned (docs/api-contract.md).

ALTER TABLE seller_transfers ADD COLUMN amount_reversed integer NOT NULL DEFAULT 0;
