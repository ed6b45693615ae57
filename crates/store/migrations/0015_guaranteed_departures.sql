-- Guaranteed departures (#18). A schedule decides `decision_hours` before
-- each departure whether it runs; each departure keeps its own minimum and
-- deadline (an admin may extend one), and where it stands:
--   none        no minimum (min_capacity <= 1), or created after its deadline
--   pending     below its minimum, deadline still to come (or just passed:
--               the decision job takes it on its next round)
--   guaranteed  runs: the minimum was reached, an admin guaranteed it, or it
--               had its minimum at the deadline
-- A departure called off for its minimum is `is_cancelled` with reason
-- `minimum_not_reached` (the guarantee stays `pending`, frozen).
ALTER TABLE tour_schedules ADD COLUMN decision_hours BIGINT NOT NULL DEFAULT 48
    CHECK (decision_hours >= 0 AND decision_hours <= 8760);
ALTER TABLE booking_slots ADD COLUMN min_capacity BIGINT NOT NULL DEFAULT 0 CHECK (min_capacity >= 0);
ALTER TABLE booking_slots ADD COLUMN decision_at {{ts}};
ALTER TABLE booking_slots ADD COLUMN guarantee TEXT NOT NULL DEFAULT 'none'
    CHECK (guarantee IN ('none', 'pending', 'guaranteed'));
ALTER TABLE booking_slots ADD COLUMN guaranteed_at {{ts}};
ALTER TABLE booking_slots ADD COLUMN guaranteed_by TEXT
    CHECK (guaranteed_by IS NULL OR guaranteed_by IN ('minimum_reached', 'manual', 'deadline'));
-- Departures that existed before this version carry no minimum yet; the
-- slot-horizon job gives future ones their schedule's minimum and deadline
-- (the deadline is computed in the application, the same on both engines).
UPDATE booking_slots SET min_capacity = COALESCE(
    (SELECT s.min_capacity FROM tour_schedules s WHERE s.id = booking_slots.schedule_id), 0);
CREATE INDEX idx_slot_pending_decision ON booking_slots (guarantee, decision_at);
