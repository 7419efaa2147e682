-- The order's own record of when it was paid: the payment object's time (`updated`) on the first
-- payment event that took the order out of `pending` (docs/api-contract.md, Order.paid_at).
-- The runbook counts seconds-to-completed from it, so a late paid cell cannot shorten the interval.
ALTER TABLE orders ADD COLUMN paid_at timestamptz;
