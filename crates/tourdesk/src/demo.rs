//! `tourdesk serve --demo`: a living demo operator in an empty database —
//! Spirit Tours-style tours in Asia/Jerusalem, schedules of several kinds,
//! a holiday blackout, bookings at different fill levels, and a full
//! departure with a waitlist — so a person opening the app sees a product.
//!
//! The data is valid whatever the date: every date is computed from the
//! context's clock, the waitlist joins name the full departure (so a
//! departure with room later that day never refuses them), and nothing is
//! chosen by weekday. The seed is all or nothing: a failure erases what it
//! wrote (the database held no operator data before) and is reported.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use tourdesk_domain::Role;
use tourdesk_domain::policy::{CancellationPolicy, PartyRules};
use tourdesk_domain::schedule::WeekdaysEdit;
use tourdesk_service::bookings::BookingRequest;
use tourdesk_service::catalog::{
    BlackoutInput, PolicyInput, ScheduleCreate, ScheduleInput, TourInput,
};
use tourdesk_service::waitlist::JoinRequest;
use tourdesk_service::{Admin, Caller, Context};
use tourdesk_store::bulk;

/// The admin login the demo created or kept, to print.
pub struct DemoLogin {
    pub email: String,
    pub password: Option<String>,
}

fn schedule(
    tour_id: i64,
    name: &str,
    start: &str,
    recurrence: &str,
    capacity: i64,
    valid_from: NaiveDate,
) -> ScheduleInput {
    ScheduleInput {
        tour_id: Some(tour_id),
        name: Some(name.into()),
        start_time: start.parse().ok(),
        recurrence: Some(recurrence.into()),
        max_capacity: Some(capacity),
        // No minimum: only the Masada sunrise shows guaranteed departures.
        min_capacity: Some(1),
        valid_from: Some(valid_from),
        ..ScheduleInput::default()
    }
}

/// Seeds the demo unless the database already holds operator data.
/// Returns the admin login when it seeded. All or nothing: on failure
/// everything the seed wrote is erased before the error is returned.
pub async fn seed(ctx: &Context, admin_email: Option<&str>) -> anyhow::Result<Option<DemoLogin>> {
    let mut conn = ctx.db.read().await?;
    let occupied = bulk::holds_operator_data(&mut conn).await?;
    drop(conn);
    if occupied {
        return Ok(None);
    }
    match seed_catalog(ctx).await {
        Ok(()) => match admin_login(ctx, admin_email).await {
            Ok(login) => Ok(Some(login)),
            Err(e) => Err(undo(ctx, e).await),
        },
        Err(e) => Err(undo(ctx, e).await),
    }
}

/// Erases a half-written demo; returns the error that stopped it.
async fn undo(ctx: &Context, cause: anyhow::Error) -> anyhow::Error {
    let erased = async {
        let mut tx = ctx.db.begin().await?;
        bulk::erase_operator_data(&mut tx).await?;
        tx.commit().await
    }
    .await;
    match erased {
        Ok(()) => cause.context("the demo could not be seeded; nothing was kept"),
        Err(e) => cause.context(format!(
            "the demo could not be seeded, and erasing its partial data failed too ({e})"
        )),
    }
}

async fn admin_login(ctx: &Context, admin_email: Option<&str>) -> anyhow::Result<DemoLogin> {
    Ok(match admin_email {
        Some(email) => DemoLogin {
            email: email.to_owned(),
            password: None,
        },
        None => {
            let password = format!(
                "demo-{}",
                &tourdesk_service::accounts::new_secret("x")[2..14]
            );
            let email = "admin@spirittours.example".to_owned();
            ctx.accounts()
                .upsert(&email, &password, "Spirit Tours Admin", Role::Admin)
                .await?;
            DemoLogin {
                email,
                password: Some(password),
            }
        }
    })
}

async fn seed_catalog(ctx: &Context) -> anyhow::Result<()> {
    let today = ctx.clock.now().date_naive();
    let catalog = ctx.catalog();
    // The demo is the operator setting up, not a request.
    let admin = Admin::system();
    let tour = |name: &str, description: &str, minutes: i64, price: &str| TourInput {
        name: Some(name.into()),
        description: Some(description.into()),
        duration_minutes: Some(minutes),
        base_price: Some(price.into()),
        currency: Some("USD".into()),
        timezone: Some("Asia/Jerusalem".into()),
        is_active: Some(true),
        ..TourInput::default()
    };
    let old_city = catalog
        .create_tour(
            &admin,
            tour(
                "Jerusalem Old City Tour",
                "The four quarters, the Western Wall and the Via Dolorosa with a licensed guide.",
                180,
                "75.00",
            ),
        )
        .await?;
    // A day trip with a tiered refund policy and lap infants, to show both.
    let dead_sea = catalog
        .create_tour(
            &admin,
            TourInput {
                cancellation_policy: Some(Some(PolicyInput {
                    tiers: CancellationPolicy::parse_tiers("72:100,24:50,0:0")?,
                    fee: Some("5.00".into()),
                })),
                party_rules: Some(Some(PartyRules {
                    infants_take_seat: false,
                    max_minors_per_adult: Some(4),
                    max_infants_per_adult: Some(2),
                })),
                ..tour(
                    "Dead Sea & Masada",
                    "Sunrise at Masada, then a float in the Dead Sea.",
                    600,
                    "149.00",
                )
            },
        )
        .await?;
    let galilee = catalog
        .create_tour(
            &admin,
            tour(
                "Galilee & Nazareth",
                "Capernaum, the Mount of Beatitudes and the old city of Nazareth.",
                540,
                "129.00",
            ),
        )
        .await?;

    let morning = catalog
        .create_schedule(
            &admin,
            schedule(
                old_city.id(),
                "Morning walk",
                "09:00:00",
                "daily",
                15,
                today,
            ),
            ScheduleCreate::default(),
        )
        .await?
        .0;
    let mut afternoon = schedule(
        old_city.id(),
        "Afternoon walk",
        "14:00:00",
        "weekly",
        12,
        today,
    );
    // Monday, Wednesday, Friday and Sunday.
    afternoon.weekdays = WeekdaysEdit([true, false, true, false, true, false, true].map(Some));
    catalog
        .create_schedule(&admin, afternoon, ScheduleCreate::default())
        .await?;
    let mut sea = schedule(
        dead_sea.id(),
        "Masada sunrise",
        "04:30:00",
        "weekly",
        20,
        today,
    );
    // Tuesday, Thursday and Saturday.
    sea.weekdays = WeekdaysEdit([false, true, false, true, false, true, false].map(Some));
    sea.price_override = Some(Some("159.00".into()));
    // The sunrise needs six people to go ahead, decided three days before.
    sea.min_capacity = Some(6);
    sea.decision_hours = Some(72);
    catalog
        .create_schedule(&admin, sea, ScheduleCreate::default())
        .await?;
    let mut north = schedule(galilee.id(), "Galilee day", "07:30:00", "custom", 18, today);
    north.rrule = Some("FREQ=WEEKLY;BYDAY=MO,TH,SU".into());
    catalog
        .create_schedule(&admin, north, ScheduleCreate::default())
        .await?;

    let holiday = (1..60)
        .map(|d| today + Duration::days(d))
        .find(|d| d.weekday() == Weekday::Sat && d.day() > 10)
        .unwrap_or(today + Duration::days(30));
    catalog
        .create_blackout(
            &admin,
            BlackoutInput {
                tour_id: None,
                start_date: holiday,
                end_date: holiday,
                blackout_type: "holiday".into(),
                name: "National holiday".into(),
                description: Some("All tours rest".into()),
            },
            false,
        )
        .await?;

    // Bookings at different fill levels on the next two weeks of mornings.
    // The operator seeds its own data: as `system`, which the guests'
    // abuse limits (bookings per email, pending per email) do not apply to.
    let guest = Caller::system();
    let names = [
        "Maria Garcia",
        "David Cohen",
        "Aiko Tanaka",
        "Liam O'Brien",
        "Fatima Haddad",
        "Noah Schmidt",
        "Sofia Rossi",
        "Yosef Levi",
    ];
    // The first two sunrises still before their deadline: one needs two
    // more people to go ahead, one has its six and is guaranteed.
    let (_, sunrises) = ctx
        .availability()
        .slots(
            dead_sea.id(),
            today + Duration::days(4),
            today + Duration::days(30),
        )
        .await?;
    let sunrises = sunrises.iter().map(|d| &d.slot).filter(|s| s.is_open());
    for (slot, (name, people)) in sunrises.zip([("Hannah Weiss", 4), ("Lucas Martin", 6)]) {
        let email = format!(
            "{}@example.com",
            name.split(' ').next().unwrap_or("guest").to_lowercase()
        );
        let req = BookingRequest {
            tour_id: dead_sea.id(),
            booking_slot_id: slot.id,
            num_adults: people,
            num_children: 0,
            num_infants: 0,
            customer_name: Some(name.into()),
            customer_email: Some(email),
            ..BookingRequest::default()
        };
        ctx.bookings().create(req, &guest, None).await?;
    }
    let (_, slots) = ctx
        .availability()
        .slots(
            old_city.id(),
            today + Duration::days(2),
            today + Duration::days(16),
        )
        .await?;
    let mornings: Vec<_> = slots
        .iter()
        .map(|d| &d.slot)
        .filter(|s| s.schedule_id == Some(morning.id) && s.is_open())
        .collect();
    for (i, slot) in mornings.iter().enumerate() {
        let target = match i % 5 {
            0 => slot.max_capacity, // full
            1 => slot.max_capacity - 2,
            2 => slot.max_capacity / 2,
            3 => 3,
            _ => 0,
        };
        let mut booked = 0;
        let mut n = 0;
        while booked < target {
            let adults = (target - booked).min(2 + (n % 3) as i64);
            let children = i64::from(adults > 2 && n % 2 == 0);
            let adults = adults - children;
            let name = names[n % names.len()];
            let email = format!(
                "{}@example.com",
                name.split(' ').next().unwrap_or("guest").to_lowercase()
            );
            let req = BookingRequest {
                tour_id: old_city.id(),
                booking_slot_id: slot.id,
                num_adults: adults,
                num_children: children,
                num_infants: 0,
                customer_name: Some(name.into()),
                customer_email: Some(email),
                needs: tourdesk_domain::Needs {
                    special_requirements: (n % 4 == 0).then(|| "Vegetarian lunch".into()),
                    ..Default::default()
                },
                ..BookingRequest::default()
            };
            ctx.bookings().create(req, &guest, None).await?;
            booked += adults + children;
            n += 1;
        }
        if i == 0 {
            for (k, who) in ["Ruth Ben-David", "Omar Nasser"].iter().enumerate() {
                let email = format!(
                    "{}@example.com",
                    who.split(' ').next().unwrap_or("w").to_lowercase()
                );
                ctx.waitlist()
                    .join(
                        JoinRequest {
                            tour_id: old_city.id(),
                            // The full departure itself: a date-wide entry
                            // is refused on a day that still has room later.
                            booking_slot_id: Some(slot.id),
                            requested_date: slot.slot_date,
                            num_people: 2 + k as i64,
                            customer_name: Some((*who).into()),
                            customer_email: Some(email),
                            customer_phone: None,
                            notes: Some("Any time that day".into()),
                        },
                        &guest,
                    )
                    .await?;
            }
        }
    }
    Ok(())
}
