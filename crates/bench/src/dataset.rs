//! The benchmark dataset: tours, a daily timetable of slots and confirmed
//! bookings, loaded in bulk through the store layer and settled
//! (`bulk::settle`: vacuumed on PostgreSQL), plus three special slots (hot:
//! unlimited capacity; sellout: capacity 100; ceiling: for the
//! raw-transaction measurement).

use chrono::{Duration, NaiveTime, Utc};
use tourdesk_domain::schedule::place;
use tourdesk_store::Db;
use tourdesk_store::bulk::{self, BulkBooking, BulkSlot};
use tourdesk_store::tours::{self, TourFields};

/// A slot the load generator may book.
#[derive(Debug, Clone)]
pub struct SlotRef {
    pub id: i64,
    pub tour_id: i64,
    pub date: chrono::NaiveDate,
}

pub struct Dataset {
    pub tour_ids: Vec<i64>,
    pub slots: Vec<SlotRef>,
    pub hot: SlotRef,
    pub sellout: SlotRef,
    pub ceiling: SlotRef,
    pub slot_count: usize,
    pub booking_count: usize,
}

const UNLIMITED: i64 = 1_000_000_000;

pub async fn build(
    db: &Db,
    n_tours: usize,
    days: usize,
    per_day: usize,
    n_bookings: usize,
) -> anyhow::Result<Dataset> {
    let now = Utc::now();
    let tz = chrono_tz::Asia::Jerusalem;
    let first_day = now.with_timezone(&tz).date_naive() + Duration::days(2);
    let mut tx = db.begin().await?;
    let mut tour_ids = Vec::with_capacity(n_tours + 1);
    for i in 0..=n_tours {
        let name = if i == n_tours {
            "Bench special".to_owned()
        } else {
            format!("Bench tour {}", i + 1)
        };
        let row = tours::insert_tour(
            &mut tx,
            &TourFields {
                name: &name,
                description: "",
                duration_minutes: 120,
                base_price: 7500,
                currency: "USD",
                timezone: "Asia/Jerusalem",
                is_active: true,
                cancellation_policy: None,
                party_rules: None,
            },
            now,
        )
        .await?;
        tour_ids.push(row.id);
    }
    let special_tour = tour_ids.pop().unwrap_or_default();
    let times: Vec<NaiveTime> = (0..per_day)
        .map(|k| NaiveTime::from_hms_opt(8 + (k as u32 * 3) % 14, 0, 0).unwrap_or(NaiveTime::MIN))
        .collect();
    let mut plan = Vec::with_capacity(n_tours * days * per_day);
    let mut capacities = Vec::with_capacity(plan.capacity());
    for &tour_id in &tour_ids {
        for d in 0..days {
            let date = first_day + Duration::days(d as i64);
            for t in &times {
                let p = place(date.and_time(*t), tz, 120);
                let capacity = 20 + rand::random_range(0..=20);
                capacities.push(capacity);
                plan.push(BulkSlot {
                    tour_id,
                    slot_date: p.slot_date,
                    start_time: p.start_time,
                    end_time: p.end_time,
                    starts_at: p.starts_at,
                    max_capacity: capacity,
                    price_per_person: 7500,
                });
            }
        }
    }
    let special = |cap: i64, day: i64| {
        let p = place(
            (first_day + Duration::days(day))
                .and_time(NaiveTime::from_hms_opt(10, 0, 0).unwrap_or(NaiveTime::MIN)),
            tz,
            120,
        );
        BulkSlot {
            tour_id: special_tour,
            slot_date: p.slot_date,
            start_time: p.start_time,
            end_time: p.end_time,
            starts_at: p.starts_at,
            max_capacity: cap,
            price_per_person: 7500,
        }
    };
    plan.push(special(UNLIMITED, 0));
    plan.push(special(100, 1));
    plan.push(special(UNLIMITED, 2));
    let ids = bulk::insert_slots(&mut tx, &plan, now).await?;
    let refs: Vec<SlotRef> = plan
        .iter()
        .zip(&ids)
        .map(|(s, id)| SlotRef {
            id: *id,
            tour_id: s.tour_id,
            date: s.slot_date,
        })
        .collect();
    let (regular, specials) = refs.split_at(refs.len() - 3);

    // Fill slots to at most 80 % so the load has room; bookings of 1–2 adults.
    let mut bookings = Vec::with_capacity(n_bookings.min(regular.len() * 40));
    let mut used = vec![0i64; regular.len()];
    let mut i = 0usize;
    let mut misses = 0usize;
    while bookings.len() < n_bookings && !regular.is_empty() && misses < regular.len() {
        let slot = i % regular.len();
        i += 1;
        let people = rand::random_range(1..=2);
        if used[slot] + people > capacities[slot] * 8 / 10 {
            misses += 1;
            continue;
        }
        misses = 0;
        used[slot] += people;
        bookings.push(BulkBooking {
            reference: format!("BN-{:010}", bookings.len() + 1),
            tour_id: regular[slot].tour_id,
            slot_id: regular[slot].id,
            adults: people,
            price: 7500,
            currency: "USD",
        });
        if bookings.len() % 100_000 == 0 {
            eprint!("\rbench: {} bookings prepared", bookings.len());
        }
    }
    bulk::insert_bookings(&mut tx, &bookings, now).await?;
    bulk::recount_slots(&mut tx).await?;
    tx.commit().await?;
    bulk::settle(db).await?;
    eprintln!();
    Ok(Dataset {
        tour_ids,
        slot_count: regular.len(),
        booking_count: bookings.len(),
        slots: regular.to_vec(),
        hot: specials[0].clone(),
        sellout: specials[1].clone(),
        ceiling: specials[2].clone(),
    })
}
