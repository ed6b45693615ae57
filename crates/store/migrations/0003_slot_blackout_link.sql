-- Remember which blackout cancelled a slot, so removing the blackout can
-- reopen exactly the slots it closed.
ALTER TABLE booking_slots ADD COLUMN cancelled_by_blackout_id BIGINT REFERENCES blackout_dates (id);
