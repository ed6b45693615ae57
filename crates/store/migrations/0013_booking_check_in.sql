-- Check-in at the departure (#17): when the operator marked the booking's
-- party as present. NULL until then (and again after an undo). Closing a
-- departure turns checked-in bookings into `completed`, the rest into
-- `no_show`.
ALTER TABLE bookings ADD COLUMN checked_in_at {{ts}};
