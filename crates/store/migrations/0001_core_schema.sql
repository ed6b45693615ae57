-- Tourdesk core schema: the spec's six tables plus tours and users.
-- One source for both engines: {{id}}, {{ts}} and {{json}} are replaced with
-- each engine's spelling when the migration is loaded (see src/migrate.rs).
-- Money is stored as integer minor units; dates as DATE, times as TIME.

CREATE TABLE users (
    id {{id}},
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    phone TEXT,
    role TEXT NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'admin')),
    password_hash TEXT NOT NULL,
    created_at {{ts}} NOT NULL,
    updated_at {{ts}} NOT NULL
);

CREATE TABLE tours (
    id {{id}},
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    duration_minutes BIGINT NOT NULL CHECK (duration_minutes > 0),
    base_price BIGINT NOT NULL CHECK (base_price >= 0),
    currency TEXT NOT NULL,
    timezone TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at {{ts}} NOT NULL,
    updated_at {{ts}} NOT NULL
);

CREATE TABLE tour_schedules (
    id {{id}},
    tour_id BIGINT NOT NULL REFERENCES tours (id),
    name TEXT NOT NULL,
    start_time TIME NOT NULL,
    duration_minutes BIGINT NOT NULL CHECK (duration_minutes > 0),
    recurrence TEXT NOT NULL CHECK (recurrence IN ('none', 'daily', 'weekly', 'biweekly', 'monthly', 'custom')),
    rrule TEXT,
    monday BOOLEAN NOT NULL DEFAULT FALSE,
    tuesday BOOLEAN NOT NULL DEFAULT FALSE,
    wednesday BOOLEAN NOT NULL DEFAULT FALSE,
    thursday BOOLEAN NOT NULL DEFAULT FALSE,
    friday BOOLEAN NOT NULL DEFAULT FALSE,
    saturday BOOLEAN NOT NULL DEFAULT FALSE,
    sunday BOOLEAN NOT NULL DEFAULT FALSE,
    max_capacity BIGINT NOT NULL CHECK (max_capacity > 0),
    min_capacity BIGINT NOT NULL DEFAULT 1 CHECK (min_capacity >= 0 AND min_capacity <= max_capacity),
    valid_from DATE NOT NULL,
    valid_until DATE CHECK (valid_until IS NULL OR valid_until >= valid_from),
    price_override BIGINT CHECK (price_override IS NULL OR price_override >= 0),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at {{ts}} NOT NULL,
    updated_at {{ts}} NOT NULL
);
CREATE INDEX idx_schedules_tour ON tour_schedules (tour_id);

CREATE TABLE booking_slots (
    id {{id}},
    tour_id BIGINT NOT NULL REFERENCES tours (id),
    schedule_id BIGINT REFERENCES tour_schedules (id),
    slot_date DATE NOT NULL,
    start_time TIME NOT NULL,
    end_time TIME NOT NULL,
    starts_at {{ts}} NOT NULL,
    max_capacity BIGINT NOT NULL,
    current_bookings BIGINT NOT NULL DEFAULT 0,
    held_spots BIGINT NOT NULL DEFAULT 0,
    price_per_person BIGINT NOT NULL CHECK (price_per_person >= 0),
    is_available BOOLEAN NOT NULL DEFAULT TRUE,
    is_cancelled BOOLEAN NOT NULL DEFAULT FALSE,
    cancellation_reason TEXT,
    created_at {{ts}} NOT NULL,
    updated_at {{ts}} NOT NULL,
    -- Design invariant 1, enforced by the database itself.
    CONSTRAINT booking_slots_capacity_check CHECK (
        current_bookings >= 0 AND held_spots >= 0
        AND current_bookings + held_spots <= max_capacity
    )
);
CREATE INDEX idx_slot_tour_date ON booking_slots (tour_id, slot_date);
CREATE UNIQUE INDEX uq_slot_schedule_date_time ON booking_slots (schedule_id, slot_date, start_time);

CREATE TABLE blackout_dates (
    id {{id}},
    tour_id BIGINT REFERENCES tours (id),
    start_date DATE NOT NULL,
    end_date DATE NOT NULL,
    blackout_type TEXT NOT NULL CHECK (blackout_type IN ('holiday', 'maintenance', 'weather', 'custom')),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at {{ts}} NOT NULL,
    CHECK (end_date >= start_date)
);
CREATE INDEX idx_blackout_dates ON blackout_dates (start_date, end_date);

CREATE TABLE bookings (
    id {{id}},
    booking_reference TEXT NOT NULL,
    user_id BIGINT REFERENCES users (id),
    tour_id BIGINT NOT NULL REFERENCES tours (id),
    booking_slot_id BIGINT NOT NULL REFERENCES booking_slots (id),
    num_adults BIGINT NOT NULL CHECK (num_adults >= 0),
    num_children BIGINT NOT NULL CHECK (num_children >= 0),
    num_infants BIGINT NOT NULL CHECK (num_infants >= 0),
    total_people BIGINT NOT NULL,
    price_per_adult BIGINT NOT NULL,
    price_per_child BIGINT NOT NULL,
    price_per_infant BIGINT NOT NULL,
    subtotal BIGINT NOT NULL,
    discount_amount BIGINT NOT NULL DEFAULT 0,
    tax_amount BIGINT NOT NULL,
    total_amount BIGINT NOT NULL,
    refund_amount BIGINT,
    currency TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    customer_email TEXT NOT NULL,
    customer_phone TEXT,
    special_requirements TEXT,
    dietary_restrictions TEXT,
    accessibility_needs TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'completed', 'no_show', 'refunded')),
    cancellation_reason TEXT,
    original_booking_id BIGINT REFERENCES bookings (id),
    payment_id BIGINT,
    created_at {{ts}} NOT NULL,
    modified_at {{ts}} NOT NULL,
    cancelled_at {{ts}},
    CHECK (total_people = num_adults + num_children + num_infants)
);
CREATE UNIQUE INDEX uq_bookings_reference ON bookings (booking_reference);
CREATE INDEX idx_bookings_user ON bookings (user_id, created_at);
CREATE INDEX idx_bookings_slot ON bookings (booking_slot_id, status);
CREATE INDEX idx_bookings_tour_created ON bookings (tour_id, created_at);

CREATE TABLE waitlist_entries (
    id {{id}},
    user_id BIGINT REFERENCES users (id),
    tour_id BIGINT NOT NULL REFERENCES tours (id),
    booking_slot_id BIGINT REFERENCES booking_slots (id),
    requested_date DATE NOT NULL,
    num_people BIGINT NOT NULL CHECK (num_people > 0),
    customer_name TEXT NOT NULL,
    customer_email TEXT NOT NULL,
    customer_phone TEXT,
    notes TEXT,
    status TEXT NOT NULL CHECK (status IN ('active', 'notified', 'converted', 'expired', 'cancelled')),
    priority BIGINT NOT NULL DEFAULT 0,
    -- The slot whose spots are held while the entry is `notified`.
    held_slot_id BIGINT REFERENCES booking_slots (id),
    notified_at {{ts}},
    notification_expires_at {{ts}},
    converted_at {{ts}},
    booking_id BIGINT REFERENCES bookings (id),
    created_at {{ts}} NOT NULL,
    updated_at {{ts}} NOT NULL
);
CREATE INDEX idx_waitlist_tour_date_status ON waitlist_entries (tour_id, requested_date, status);
CREATE INDEX idx_waitlist_user ON waitlist_entries (user_id);
CREATE INDEX idx_waitlist_expiry ON waitlist_entries (status, notification_expires_at);

CREATE TABLE booking_modification_logs (
    id {{id}},
    booking_id BIGINT NOT NULL REFERENCES bookings (id),
    tour_id BIGINT NOT NULL REFERENCES tours (id),
    modified_by BIGINT REFERENCES users (id),
    actor TEXT NOT NULL,
    modification_type TEXT NOT NULL,
    old_value {{json}},
    new_value {{json}},
    reason TEXT,
    ip_address TEXT,
    user_agent TEXT,
    created_at {{ts}} NOT NULL
);
CREATE INDEX idx_modlogs_booking ON booking_modification_logs (booking_id, id);
