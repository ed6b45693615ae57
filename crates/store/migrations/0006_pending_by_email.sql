-- The cap on pending guest bookings per email counts these on every guest
-- booking; the partial index keeps that a small lookup.
CREATE INDEX idx_bookings_pending_guest_email ON bookings (LOWER(customer_email))
    WHERE status = 'pending' AND user_id IS NULL;
