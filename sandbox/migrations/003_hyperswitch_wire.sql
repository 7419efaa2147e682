-- Hyperswitch's wire format: every payment status the double can reach (IntentStatus), the refund
-- status `review`, and the request fields the orchestrator now accepts and echoes.

ALTER TABLE hs_payments DROP CONSTRAINT hs_payments_status_check;
ALTER TABLE hs_payments ADD CONSTRAINT hs_payments_status_check CHECK (status IN (
  'requires_payment_method','processing','succeeded','failed','requires_capture','partially_captured',
  'cancelled','expired','requires_customer_action'));
ALTER TABLE hs_payments ADD COLUMN capture_method text NOT NULL DEFAULT 'automatic';
ALTER TABLE hs_payments ADD COLUMN return_url text;
ALTER TABLE hs_payments ADD COLUMN customer_id text;
ALTER TABLE hs_payments ADD COLUMN attempt_count integer NOT NULL DEFAULT 1;

ALTER TABLE hs_refunds DROP CONSTRAINT hs_refunds_status_check;
ALTER TABLE hs_refunds ADD CONSTRAINT hs_refunds_status_check CHECK (status IN ('pending','succeeded','failed','review'));
ALTER TABLE hs_refunds ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE hs_refunds ADD COLUMN refund_type text NOT NULL DEFAULT 'instant';
ALTER TABLE hs_refunds ADD COLUMN error_code text;
ALTER TABLE hs_refunds ADD COLUMN error_message text;
