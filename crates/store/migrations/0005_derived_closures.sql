-- One sound write path (see service/src/ledger.rs).
--
-- 1. Closures are derived, not remembered. `blackout_id` is the active
--    blackout covering a departure (the lowest id when several do), kept by
--    one statement (`slots::refresh_blackouts`) whenever blackouts change;
--    `withdrawn` is true while the departure's schedule does not produce it
--    (inactive, or edited away). Neither touches `is_cancelled`, which now
--    means only "cancelled by the operator". A departure is bookable only
--    when it is available, not cancelled, not blacked out, not withdrawn.
ALTER TABLE booking_slots ADD COLUMN blackout_id BIGINT REFERENCES blackout_dates (id);
ALTER TABLE booking_slots ADD COLUMN withdrawn BOOLEAN NOT NULL DEFAULT FALSE;

UPDATE booking_slots SET is_cancelled = FALSE, cancellation_reason = NULL, cancelled_by_blackout_id = NULL
    WHERE cancelled_by_blackout_id IS NOT NULL;
-- Departures a schedule deactivation cancelled: withdrawn while the schedule
-- is still inactive, open again if it was reactivated since.
UPDATE booking_slots SET is_cancelled = FALSE, cancellation_reason = NULL, withdrawn = NOT EXISTS (
        SELECT 1 FROM tour_schedules s WHERE s.id = booking_slots.schedule_id AND s.is_active)
    WHERE is_cancelled AND cancellation_reason = 'schedule withdrawn';
UPDATE booking_slots SET blackout_id = (
    SELECT MIN(b.id) FROM blackout_dates b
    WHERE b.is_active AND (b.tour_id IS NULL OR b.tour_id = booking_slots.tour_id)
      AND booking_slots.slot_date >= b.start_date AND booking_slots.slot_date <= b.end_date);

-- 2. A schedule has at most one departure per date: regeneration and edits
--    can never create a second one. Earlier duplicates (edits of start time
--    used to create them) keep on the schedule the one at the schedule's
--    current time (else the oldest); the others leave the schedule, and
--    those nobody booked are cancelled, so a day never shows both.
UPDATE booking_slots
    SET is_cancelled = CASE WHEN current_bookings = 0 AND held_spots = 0 THEN TRUE ELSE is_cancelled END,
        cancellation_reason = CASE WHEN current_bookings = 0 AND held_spots = 0
                                   THEN 'duplicate departure' ELSE cancellation_reason END,
        schedule_id = NULL
    WHERE schedule_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM booking_slots o JOIN tour_schedules s ON s.id = o.schedule_id
        WHERE o.schedule_id = booking_slots.schedule_id AND o.slot_date = booking_slots.slot_date
          AND o.id <> booking_slots.id
          AND ((o.start_time = s.start_time AND booking_slots.start_time <> s.start_time)
               OR ((o.start_time = s.start_time) = (booking_slots.start_time = s.start_time)
                   AND o.id < booking_slots.id)));
DROP INDEX uq_slot_schedule_date_time;
CREATE UNIQUE INDEX uq_slot_schedule_date ON booking_slots (schedule_id, slot_date);

-- 3. One open waitlist entry per person, tour and date. Earlier duplicates
--    (concurrent joins could create them) are cancelled, keeping a notified
--    one (its offer is live) else the oldest; held counters are recomputed
--    from the entries that remain, never upwards.
UPDATE waitlist_entries SET status = 'cancelled', held_slot_id = NULL
    WHERE status IN ('active', 'notified') AND EXISTS (
        SELECT 1 FROM waitlist_entries o
        WHERE o.tour_id = waitlist_entries.tour_id AND o.requested_date = waitlist_entries.requested_date
          AND LOWER(o.customer_email) = LOWER(waitlist_entries.customer_email)
          AND o.status IN ('active', 'notified') AND o.id <> waitlist_entries.id
          AND ((o.status = 'notified' AND waitlist_entries.status = 'active')
               OR (o.status = waitlist_entries.status AND o.id < waitlist_entries.id)));
UPDATE booking_slots SET held_spots = (
    SELECT CASE WHEN COALESCE(SUM(w.num_people), 0) < booking_slots.held_spots
                THEN COALESCE(SUM(w.num_people), 0) ELSE booking_slots.held_spots END
    FROM waitlist_entries w WHERE w.status = 'notified' AND w.held_slot_id = booking_slots.id);
CREATE UNIQUE INDEX uq_waitlist_open_entry ON waitlist_entries (tour_id, requested_date, LOWER(customer_email))
    WHERE status IN ('active', 'notified');
