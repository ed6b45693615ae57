-- The reminder email before a departure is sent once (#15): the booking
-- records when its reminder was queued.
ALTER TABLE bookings ADD COLUMN reminded_at {{ts}};
