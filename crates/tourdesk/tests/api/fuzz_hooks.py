"""Schemathesis hooks for the OpenAPI fuzz run (fuzz.rs): ids that exist.

Ids the generator makes up are almost never in the database, so requests
stop at 404 or 422 before the code that books, changes, cancels or claims
runs. These hooks give the generator, as one more choice beside its own, the
ids of the data the test seeded: TOURDESK_FUZZ_IDS, a JSON object of id lists
by parameter name, plus "departures" ([tour_id, slot_id, date] triples) for
bodies that name a tour with a departure or a date. The choice is drawn by
Hypothesis, so a run stays reproducible from its seed.
"""

import json
import os

import schemathesis
from hypothesis import strategies as st

IDS = json.loads(os.environ.get("TOURDESK_FUZZ_IDS") or "{}")
DEPARTURES = [tuple(d) for d in IDS.get("departures", [])]


def _existing(name):
    """An id of this name that exists, if the test gave some."""
    values = IDS.get(name) or []
    return st.sampled_from(values) if values else None


@schemathesis.hook
def flatmap_path_parameters(ctx, path_parameters):
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    choices = {k: _existing(k) for k in path_parameters}
    choices = {k: s for k, s in choices.items() if s is not None}
    if not choices:
        return st.just(path_parameters)
    real = st.fixed_dictionaries(choices).map(lambda ids: {**path_parameters, **ids})
    return st.one_of(real, st.just(path_parameters))


def _with_departure(body, departure):
    tour_id, slot_id, date = departure
    out = dict(body)
    out["tour_id"] = tour_id
    if "booking_slot_id" in out:
        out["booking_slot_id"] = slot_id
    if "requested_date" in out:
        out["requested_date"] = date
    return out


@schemathesis.hook
def flatmap_body(ctx, body):
    if not isinstance(body, dict):
        return st.just(body)
    options = []
    if "tour_id" in body and DEPARTURES:
        options.append(st.sampled_from(DEPARTURES).map(lambda d: _with_departure(body, d)))
    for key, name in (("booking_slot_id", "slot_id"), ("new_slot_id", "slot_id")):
        if key in body and "tour_id" not in body and _existing(name) is not None:
            options.append(_existing(name).map(lambda v, key=key: {**body, key: v}))
    return st.one_of(*options, st.just(body))
