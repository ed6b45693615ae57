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

/// A tour of the demo, as an operator would type it into the console.
struct DemoTour {
    name: &'static str,
    description: &'static str,
    minutes: i64,
    price: &'static str,
    /// Its own cancellation policy (`hours:percent` tiers) and fee.
    policy: Option<(&'static str, &'static str)>,
    /// Its own party rules.
    party: Option<PartyRules>,
}

const TOURS: [DemoTour; 3] = [
    DemoTour {
        name: "Jerusalem Old City Tour",
        description: "The four quarters, the Western Wall and the Via Dolorosa with a licensed guide.",
        minutes: 180,
        price: "75.00",
        policy: None,
        party: None,
    },
    // A day trip with a tiered refund policy and lap infants, to show both.
    DemoTour {
        name: "Dead Sea & Masada",
        description: "Sunrise at Masada, then a float in the Dead Sea.",
        minutes: 600,
        price: "149.00",
        policy: Some(("72:100,24:50,0:0", "5.00")),
        party: Some(PartyRules {
            infants_take_seat: false,
            max_minors_per_adult: Some(4),
            max_infants_per_adult: Some(2),
        }),
    },
    DemoTour {
        name: "Galilee & Nazareth",
        description: "Capernaum, the Mount of Beatitudes and the old city of Nazareth.",
        minutes: 540,
        price: "129.00",
        policy: None,
        party: None,
    },
];

/// Indexes into [`TOURS`].
const OLD_CITY: usize = 0;
const DEAD_SEA: usize = 1;
const GALILEE: usize = 2;

/// A schedule of the demo, valid from today.
struct DemoSchedule {
    tour: usize,
    name: &'static str,
    start: &'static str,
    recurrence: &'static str,
    capacity: i64,
    /// For `weekly`: Monday first.
    weekdays: Option<[bool; 7]>,
    /// For `custom`.
    rrule: Option<&'static str>,
    price: Option<&'static str>,
    /// `(people, hours before)`: the minimum to go ahead and when it is decided.
    minimum: Option<(i64, i64)>,
}

/// The first is the morning walk whose departures the demo books.
const SCHEDULES: [DemoSchedule; 4] = [
    DemoSchedule {
        tour: OLD_CITY,
        name: "Morning walk",
        start: "09:00:00",
        recurrence: "daily",
        capacity: 15,
        weekdays: None,
        rrule: None,
        price: None,
        minimum: None,
    },
    // Monday, Wednesday, Friday and Sunday.
    DemoSchedule {
        tour: OLD_CITY,
        name: "Afternoon walk",
        start: "14:00:00",
        recurrence: "weekly",
        capacity: 12,
        weekdays: Some([true, false, true, false, true, false, true]),
        rrule: None,
        price: None,
        minimum: None,
    },
    // Tuesday, Thursday and Saturday; the sunrise needs six people to go
    // ahead, decided three days before.
    DemoSchedule {
        tour: DEAD_SEA,
        name: "Masada sunrise",
        start: "04:30:00",
        recurrence: "weekly",
        capacity: 20,
        weekdays: Some([false, true, false, true, false, true, false]),
        rrule: None,
        price: Some("159.00"),
        minimum: Some((6, 72)),
    },
    DemoSchedule {
        tour: GALILEE,
        name: "Galilee day",
        start: "07:30:00",
        recurrence: "custom",
        capacity: 18,
        weekdays: None,
        rrule: Some("FREQ=WEEKLY;BYDAY=MO,TH,SU"),
        price: None,
        minimum: None,
    },
];

/// The guests who book the morning walks, in turn.
const GUESTS: [&str; 8] = [
    "Maria Garcia",
    "David Cohen",
    "Aiko Tanaka",
    "Liam O'Brien",
    "Fatima Haddad",
    "Noah Schmidt",
    "Sofia Rossi",
    "Yosef Levi",
];

/// "Maria Garcia" books as maria@example.com.
fn email_of(name: &str) -> String {
    let first = name.split(' ').next().unwrap_or("guest");
    format!("{}@example.com", first.to_lowercase())
}

impl DemoTour {
    fn input(&self) -> anyhow::Result<TourInput> {
        Ok(TourInput {
            name: Some(self.name.into()),
            description: Some(self.description.into()),
            duration_minutes: Some(self.minutes),
            base_price: Some(self.price.into()),
            currency: Some("USD".into()),
            timezone: Some("Asia/Jerusalem".into()),
            is_active: Some(true),
            cancellation_policy: match self.policy {
                Some((tiers, fee)) => Some(Some(PolicyInput {
                    tiers: CancellationPolicy::parse_tiers(tiers)?,
                    fee: Some(fee.into()),
                })),
                None => None,
            },
            party_rules: self.party.map(Some),
        })
    }
}

impl DemoSchedule {
    fn input(&self, tour_id: i64, valid_from: NaiveDate) -> ScheduleInput {
        let (min_capacity, decision_hours) = match self.minimum {
            Some((people, hours)) => (people, Some(hours)),
            // No minimum: only the Masada sunrise shows guaranteed departures.
            None => (1, None),
        };
        ScheduleInput {
            tour_id: Some(tour_id),
            name: Some(self.name.into()),
            start_time: self.start.parse().ok(),
            recurrence: Some(self.recurrence.into()),
            rrule: self.rrule.map(Into::into),
            weekdays: WeekdaysEdit(self.weekdays.map(|w| w.map(Some)).unwrap_or_default()),
            max_capacity: Some(self.capacity),
            min_capacity: Some(min_capacity),
            decision_hours,
            price_override: self.price.map(|p| Some(p.into())),
            valid_from: Some(valid_from),
            ..ScheduleInput::default()
        }
    }
}

/// The operator's set-up: [`TOURS`], [`SCHEDULES`], a holiday, and bookings
/// and waitlist entries at different fill levels.
async fn seed_catalog(ctx: &Context) -> anyhow::Result<()> {
    let today = ctx.clock.now().date_naive();
    let catalog = ctx.catalog();
    // The demo is the operator setting up, not a request.
    let admin = Admin::system();
    let mut tours = Vec::with_capacity(TOURS.len());
    for t in &TOURS {
        tours.push(catalog.create_tour(&admin, t.input()?).await?.id());
    }
    let mut schedules = Vec::with_capacity(SCHEDULES.len());
    for s in &SCHEDULES {
        let input = s.input(tours[s.tour], today);
        let (created, _) = catalog
            .create_schedule(&admin, input, ScheduleCreate::default())
            .await?;
        schedules.push(created.row.id);
    }
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
    book_sunrises(ctx, tours[DEAD_SEA], today).await?;
    book_mornings(ctx, tours[OLD_CITY], schedules[0], today).await
}

/// The first two sunrises still before their deadline: one needs two more
/// people to go ahead, one has its six and is guaranteed.
async fn book_sunrises(ctx: &Context, tour: i64, today: NaiveDate) -> anyhow::Result<()> {
    let (_, sunrises) = ctx
        .availability()
        .slots(tour, today + Duration::days(4), today + Duration::days(30))
        .await?;
    let sunrises = sunrises.iter().map(|d| &d.slot).filter(|s| s.is_open());
    for (slot, (name, people)) in sunrises.zip([("Hannah Weiss", 4), ("Lucas Martin", 6)]) {
        book(ctx, tour, slot.id, name, (people, 0), None).await?;
    }
    Ok(())
}

/// The next two weeks of morning walks at different fill levels (full,
/// nearly, half, a few, empty), and two parties waiting for the first.
async fn book_mornings(
    ctx: &Context,
    tour: i64,
    schedule: i64,
    today: NaiveDate,
) -> anyhow::Result<()> {
    let (_, slots) = ctx
        .availability()
        .slots(tour, today + Duration::days(2), today + Duration::days(16))
        .await?;
    let mornings = slots
        .iter()
        .map(|d| &d.slot)
        .filter(|s| s.schedule_id == Some(schedule) && s.is_open());
    for (i, slot) in mornings.enumerate() {
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
            let people = (target - booked).min(2 + (n % 3) as i64);
            let children = i64::from(people > 2 && n % 2 == 0);
            let needs = (n % 4 == 0).then_some("Vegetarian lunch");
            let name = GUESTS[n % GUESTS.len()];
            book(
                ctx,
                tour,
                slot.id,
                name,
                (people - children, children),
                needs,
            )
            .await?;
            booked += people;
            n += 1;
        }
        if i == 0 {
            for (k, who) in ["Ruth Ben-David", "Omar Nasser"].into_iter().enumerate() {
                let entry = JoinRequest {
                    tour_id: tour,
                    // The full departure itself: a date-wide entry is
                    // refused on a day that still has room later.
                    booking_slot_id: Some(slot.id),
                    requested_date: slot.slot_date,
                    num_people: 2 + k as i64,
                    customer_name: Some(who.into()),
                    customer_email: Some(email_of(who)),
                    customer_phone: None,
                    notes: Some("Any time that day".into()),
                };
                ctx.waitlist().join(entry, &Caller::system()).await?;
            }
        }
    }
    Ok(())
}

/// Books `(adults, children)` for `name` as the operator seeding its own
/// data: as `system`, which the guests' abuse limits (bookings per email,
/// pending per email) do not apply to.
async fn book(
    ctx: &Context,
    tour: i64,
    slot: i64,
    name: &str,
    (adults, children): (i64, i64),
    special_requirements: Option<&str>,
) -> anyhow::Result<()> {
    let req = BookingRequest {
        tour_id: tour,
        booking_slot_id: slot,
        num_adults: adults,
        num_children: children,
        num_infants: 0,
        customer_name: Some(name.into()),
        customer_email: Some(email_of(name)),
        needs: tourdesk_domain::Needs {
            special_requirements: special_requirements.map(Into::into),
            ..Default::default()
        },
        ..BookingRequest::default()
    };
    ctx.bookings().create(req, &Caller::system(), None).await?;
    Ok(())
}
