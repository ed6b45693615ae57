-- Operator rules per tour (#18). NULL means the configuration's default.
-- `cancellation_policy`: JSON {"tiers": [{"min_hours_before", "refund_percent"}, ...], "fee"}
-- (fee in minor units); `party_rules`: JSON {"infants_take_seat",
-- "max_minors_per_adult", "max_infants_per_adult"}.
ALTER TABLE tours ADD COLUMN cancellation_policy TEXT;
ALTER TABLE tours ADD COLUMN party_rules TEXT;
-- The places a booking holds on its departure: its people, less its infants
-- on a tour where infants do not take a seat. Fixed when the party is set,
-- so a later change of the tour's rule never moves capacity already held.
ALTER TABLE bookings ADD COLUMN seats BIGINT NOT NULL DEFAULT 0 CHECK (seats >= 0);
UPDATE bookings SET seats = total_people;
-- What was refunded for people removed from the booking (a party
-- reduction), by the tour's policy, in minor units; `refund_amount` stays
-- the refund of the cancellation itself.
ALTER TABLE bookings ADD COLUMN reduction_refund_amount BIGINT NOT NULL DEFAULT 0;
