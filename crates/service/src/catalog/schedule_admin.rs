//! Schedules: creating, editing, previewing and retiring them, generating
//! their departures, and the rolling booking horizon.

use super::*;

impl Catalog<'_> {
    /// Creates a schedule and, unless told not to, its departures from the
    /// tour's today to the booking horizon (`BOOKING_ADVANCE_DAYS`), in the
    /// same transaction: a new schedule is bookable at once, as far ahead
    /// as customers may book. With `dry_run` the same work runs in a
    /// transaction that is rolled back, so the preview is exactly what
    /// creating would do.
    pub async fn create_schedule(
        &self,
        _admin: &Admin,
        input: ScheduleInput,
        opts: ScheduleCreate,
    ) -> ServiceResult<(ScheduleView, Option<InitialDepartures>)> {
        let tour_id = input
            .tour_id
            .ok_or_else(|| ServiceError::invalid("tour_id", "is required"))?;
        ledger::retry(|| async {
            let mut tx = self.0.db.begin().await?;
            let tour = load_tour(&mut tx, tour_id)
                .await
                .map_err(ServiceError::not_found_is_invalid("tour_id"))?;
            let fields = merge_schedule(&tour, None, &input)?;
            let now = self.now();
            let row = schedules::insert_schedule(&mut tx, &fields.as_fields(), now).await?;
            let initial = if opts.generate && row.is_active {
                let today = tour.today(now);
                let horizon =
                    today + chrono::Days::new(u64::from(self.0.settings.booking_advance_days));
                let from = today.max(row.valid_from);
                let until = row.valid_until.map_or(horizon, |u| u.min(horizon));
                let report = if from <= until {
                    ledger::generate(&mut tx, &tour, &row, from, until, now).await?
                } else {
                    GenerationReport {
                        created: 0,
                        skipped_existing: 0,
                        skipped_blackout: 0,
                        slots: Vec::new(),
                    }
                };
                Some(InitialDepartures {
                    from,
                    until,
                    report,
                })
            } else {
                None
            };
            if opts.dry_run {
                tx.rollback().await?;
            } else {
                tx.commit().await?;
            }
            Ok((ScheduleView { row, tour }, initial))
        })
        .await
    }

    /// Changes a schedule (absent fields keep their values) and makes its
    /// future departures follow (see `ledger::sync_schedule`). With
    /// `dry_run` nothing is kept: the same change runs in a transaction
    /// that is rolled back, so the report is exactly what would happen.
    pub async fn update_schedule(
        &self,
        id: i64,
        input: ScheduleInput,
        opts: ScheduleEdit,
        admin: &Admin,
    ) -> ServiceResult<(ScheduleView, ScheduleSync)> {
        let caller = admin.caller();

        ledger::retry(|| async {
            let mut tx = self.0.db.begin().await?;
            // The schedule row first: concurrent edits of one schedule queue,
            // and each merges over (and syncs from) what the last one wrote.
            let current = schedules::lock_schedule(&mut tx, id)
                .await?
                .ok_or_else(|| ServiceError::not_found(format!("schedule {id} not found")))?;
            if input.tour_id.is_some_and(|t| t != current.tour_id) {
                return Err(ServiceError::invalid(
                    "tour_id",
                    "a schedule cannot move to another tour",
                ));
            }
            let tour = load_tour(&mut tx, current.tour_id).await?;
            let fields = merge_schedule(&tour, Some(&current), &input)?;
            schedules::update_schedule(&mut tx, id, &fields.as_fields(), self.now()).await?;
            let row = load_schedule(&mut tx, id).await?;
            let sync = ledger::sync_schedule(
                self.0,
                &mut tx,
                &tour,
                &current,
                &row,
                opts.apply_to_booked,
                caller,
            )
            .await?;
            if opts.dry_run {
                tx.rollback().await?;
            } else {
                tx.commit().await?;
            }
            Ok((ScheduleView { row, tour }, sync))
        })
        .await
    }

    pub async fn schedule(&self, _admin: &Admin, id: i64) -> ServiceResult<ScheduleView> {
        let mut conn = self.0.db.read().await?;
        let row = load_schedule(&mut conn, id).await?;
        let tour = load_tour(&mut conn, row.tour_id).await?;
        Ok(ScheduleView { row, tour })
    }

    /// Schedules (of one tour, or all), each with its tour.
    pub async fn schedules(
        &self,
        _admin: &Admin,
        tour_id: Option<i64>,
    ) -> ServiceResult<Vec<ScheduleView>> {
        let mut conn = self.0.db.read().await?;
        let rows = schedules::list_schedules(&mut conn, tour_id).await?;
        let mut tours: HashMap<i64, Tour> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let tour = match tours.get(&row.tour_id) {
                Some(t) => t.clone(),
                None => {
                    let t = load_tour(&mut conn, row.tour_id).await?;
                    tours.insert(row.tour_id, t.clone());
                    t
                }
            };
            out.push(ScheduleView { row, tour });
        }
        Ok(out)
    }

    /// Deactivates a schedule: nothing more is generated from it, and its
    /// future departures without bookings are withdrawn (closed); booked
    /// ones stay. Reactivating it (`is_active: true`) restores them.
    /// Returns how many were withdrawn.
    pub async fn deactivate_schedule(
        &self,
        id: i64,
        admin: &Admin,
    ) -> ServiceResult<(ScheduleView, u64)> {
        let input = ScheduleInput {
            is_active: Some(false),
            ..ScheduleInput::default()
        };
        let (view, sync) = self
            .update_schedule(id, input, ScheduleEdit::default(), admin)
            .await?;
        let withdrawn = sync
            .changes
            .iter()
            .filter(|c| c.actions.contains(&ledger::DepartureAction::Withdrawn))
            .count();
        Ok((view, u64::try_from(withdrawn).unwrap_or(u64::MAX)))
    }

    /// The dates a schedule would produce in a range, without writing
    /// anything (the admin console's preview).
    pub async fn preview_schedule(
        &self,
        _admin: &Admin,
        id: i64,
        start: NaiveDate,
        end: NaiveDate,
    ) -> ServiceResult<Vec<schedule::Placement>> {
        check_range(start, end)?;
        let mut conn = self.0.db.read().await?;
        let row = load_schedule(&mut conn, id).await?;
        let tour = load_tour(&mut conn, row.tour_id).await?;
        let pattern = pattern_of(&row)?;
        Ok(pattern
            .occurrences(start, end)?
            .into_iter()
            .map(|local| schedule::place(local, tour.tz, row.duration_minutes))
            .collect())
    }

    /// Creates the slots a schedule produces in `start..=end` that do not
    /// exist yet, skipping blacked-out dates. Idempotent.
    pub async fn generate_slots(
        &self,
        _admin: &Admin,
        schedule_id: i64,
        start: NaiveDate,
        end: NaiveDate,
    ) -> ServiceResult<(GenerationReport, Tour)> {
        check_range(start, end)?;
        ledger::retry(|| async {
            let mut tx = self.0.db.begin().await?;
            let row = load_schedule(&mut tx, schedule_id).await?;
            if !row.is_active {
                return Err(ServiceError::conflict(
                    "schedule_inactive",
                    format!("schedule {schedule_id} is inactive"),
                ));
            }
            let tour = load_tour(&mut tx, row.tour_id).await?;
            let report = ledger::generate(&mut tx, &tour, &row, start, end, self.now()).await?;
            tx.commit().await?;
            Ok((report, tour))
        })
        .await
    }

    /// Keeps every active schedule generated from today up to
    /// `BOOKING_ADVANCE_DAYS` ahead; returns how many slots were created.
    pub async fn extend_horizon(&self) -> ServiceResult<usize> {
        let mut conn = self.0.db.read().await?;
        let list = schedules::active_schedules(&mut conn).await?;
        drop(conn);
        let mut created = 0;
        let days = u64::from(self.0.settings.booking_advance_days);
        for row in list {
            created += ledger::retry(|| async {
                let mut tx = self.0.db.begin().await?;
                let tour = load_tour(&mut tx, row.tour_id).await?;
                let today = tour.today(self.now());
                let end = today + chrono::Days::new(days);
                ledger::adopt_minimum(&mut tx, &row, self.now()).await?;
                let report = ledger::generate(&mut tx, &tour, &row, today, end, self.now()).await?;
                tx.commit().await?;
                Ok(report.created)
            })
            .await?;
        }
        Ok(created)
    }

    // ---- blackouts ----
}
