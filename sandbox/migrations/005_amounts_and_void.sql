-- Issue 23: the amounts the orchestrator reports (a surcharge on top of the order's amount, what a
-- capture took) and the outcome of a void, so the double can disagree with the order the way a
-- real orchestrator could.
ALTER TABLE hs_payments ADD COLUMN surcharge_amount integer NOT NULL DEFAULT 0 CHECK (surcharge_amount >= 0);
ALTER TABLE hs_payments ADD COLUMN amount_captured integer CHECK (amount_captured >= 0);
-- The latest attempt's status (Hyperswitch AttemptStatus) when it says more than the payment's own:
-- `void_failed` after a failed void, `voided` after a void.
ALTER TABLE hs_payments ADD COLUMN last_attempt_status text;
