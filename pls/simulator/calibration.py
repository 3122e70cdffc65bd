"""National volumes and mixes the simulator draws from.

Service volumes per year follow the Ministry of Justice figures quoted in the design (2022-2024):
about 18M mediation cases, 13M lawyer matters, 1.4M legal aid cases, 20M legal aid consultations
and over 12M hotline calls. Volumes marked `estimate` are not in those figures and are our own
order-of-magnitude estimates. Province weights are resident population from the 2020 census
(millions); the Corps is about 3.3 million.
"""

from __future__ import annotations

from typing import Final

# Cases per year by service. (volume, source)
SERVICE_VOLUME: Final[dict[str, tuple[float, str]]] = {
    "consultation": (32.0e6, "MoJ: 20M legal aid consultations + 12M hotline calls"),
    "mediation": (18.0e6, "MoJ"),
    "lawyer": (13.0e6, "MoJ"),
    "notarization": (14.0e6, "estimate"),
    "judicial_appraisal": (2.5e6, "estimate"),
    "legal_aid": (1.4e6, "MoJ"),
    "arbitration": (0.6e6, "estimate"),
    "legal_publicity": (1.0e6, "estimate"),
}

CHANNEL_MIX: Final[dict[str, dict[str, float]]] = {
    "consultation": {
        "hotline_12348": 0.40,
        "wechat": 0.25,
        "web": 0.15,
        "app": 0.05,
        "walk_in": 0.15,
    },
    "mediation": {
        "walk_in": 0.60,
        "court_referral": 0.20,
        "transfer_12345": 0.10,
        "hotline_12348": 0.05,
        "wechat": 0.05,
    },
    "legal_aid": {
        "walk_in": 0.55,
        "wechat": 0.15,
        "web": 0.10,
        "hotline_12348": 0.10,
        "court_referral": 0.10,
    },
    "lawyer": {"walk_in": 0.70, "web": 0.10, "wechat": 0.10, "app": 0.10},
    "notarization": {"walk_in": 0.80, "web": 0.10, "app": 0.10},
    "judicial_appraisal": {"walk_in": 0.60, "court_referral": 0.40},
    "arbitration": {"walk_in": 0.80, "web": 0.20},
    "legal_publicity": {"walk_in": 0.70, "wechat": 0.30},
}

PLATFORM_LEVEL_MIX: Final[dict[str, float]] = {
    "county_centre": 0.50,
    "township_station": 0.35,
    "village_room": 0.15,
}

REJECTION_RATE: Final[dict[str, float]] = {
    "legal_aid": 0.10,
    "mediation": 0.05,
    "judicial_appraisal": 0.05,
    "notarization": 0.03,
    "lawyer": 0.02,
    "arbitration": 0.05,
}

REJECTION_REASONS: Final[dict[str, float]] = {
    "not_eligible_financial": 0.35,
    "outside_scope": 0.25,
    "insufficient_materials": 0.20,
    "no_jurisdiction": 0.10,
    "duplicate_application": 0.05,
    "withdrawn_by_applicant": 0.05,
}

OUTCOMES: Final[dict[str, dict[str, float]]] = {
    "consultation": {"advice_given": 0.95, "referred_elsewhere": 0.05},
    "legal_publicity": {"advice_given": 1.0},
    "mediation": {"agreement_reached": 0.90, "no_agreement": 0.08, "withdrawn": 0.02},
    "legal_aid": {"representation_completed": 0.90, "aid_terminated": 0.05, "withdrawn": 0.05},
    "lawyer": {"representation_completed": 0.85, "referred_elsewhere": 0.10, "withdrawn": 0.05},
    "notarization": {"notarized": 0.97, "withdrawn": 0.03},
    "judicial_appraisal": {"appraisal_issued": 0.95, "withdrawn": 0.05},
    "arbitration": {"award_made": 0.60, "agreement_reached": 0.35, "withdrawn": 0.05},
}

# Days from receipt to the decision, to assignment, to conclusion (mean, spread), by service.
DECISION_DAYS: Final[dict[str, tuple[float, float]]] = {
    "legal_aid": (4.0, 2.5),
    "judicial_appraisal": (4.0, 2.5),
    "mediation": (1.0, 1.0),
    "lawyer": (1.0, 1.0),
    "notarization": (0.5, 0.5),
    "arbitration": (3.0, 2.0),
}
CONCLUSION_DAYS: Final[dict[str, tuple[float, float]]] = {
    "legal_aid": (45.0, 20.0),
    "judicial_appraisal": (25.0, 10.0),
    "mediation": (14.0, 10.0),
    "lawyer": (40.0, 25.0),
    "notarization": (8.0, 4.0),
    "arbitration": (60.0, 20.0),
}

RATING_PROBABILITY: Final = 0.40
RATING_MIX: Final[dict[int, float]] = {5: 0.70, 4: 0.20, 3: 0.06, 2: 0.025, 1: 0.015}
CALLBACK_PROBABILITY: Final = 0.30  # besides every dissatisfied rating
CALLBACK_RESULTS: Final[dict[str, float]] = {
    "satisfied": 0.85,
    "dissatisfied": 0.05,
    "unreachable": 0.10,
}
APPLICANT_CATEGORY_RATE: Final[dict[str, float]] = {
    "low_income": 0.30,
    "elderly": 0.12,
    "migrant_worker": 0.10,
    "disabled": 0.04,
    "minor": 0.04,
    "military_family": 0.02,
    "domestic_violence": 0.02,
}
TRANSFER_OUT_RATE: Final = 0.01

POPULATION_MILLIONS: Final[dict[str, float]] = {
    "110000": 21.9,
    "120000": 13.9,
    "130000": 74.6,
    "140000": 34.9,
    "150000": 24.0,
    "210000": 42.6,
    "220000": 24.1,
    "230000": 31.9,
    "310000": 24.9,
    "320000": 84.7,
    "330000": 64.6,
    "340000": 61.0,
    "350000": 41.5,
    "360000": 45.2,
    "370000": 101.5,
    "410000": 99.4,
    "420000": 57.8,
    "430000": 66.4,
    "440000": 126.0,
    "450000": 50.1,
    "460000": 10.1,
    "500000": 32.1,
    "510000": 83.7,
    "520000": 38.6,
    "530000": 47.2,
    "540000": 3.6,
    "610000": 39.5,
    "620000": 25.0,
    "630000": 5.9,
    "640000": 7.2,
    "650000": 25.9,
    "660000": 3.3,
}

EVENTS_PER_CASE: Final = 4.2  # opened, decided, assigned/started, concluded, sometimes rated


def service_mix() -> dict[str, float]:
    total = sum(volume for volume, _ in SERVICE_VOLUME.values())
    return {service: volume / total for service, (volume, _) in SERVICE_VOLUME.items()}


def national_events_per_second() -> float:
    cases = sum(volume for volume, _ in SERVICE_VOLUME.values())
    return cases * EVENTS_PER_CASE / (365 * 24 * 3600)


# Complaints (服务投诉). Published national figures give complaints per 10k services only as an
# evaluation indicator; a few per 10k is our order-of-magnitude estimate. `pls up` raises the rate
# so that a demonstration shows complaints within minutes.
COMPLAINTS_PER_10K: Final = 3.0
COMPLAINT_CATEGORIES: Final[dict[str, float]] = {
    "attitude": 0.30,
    "delay": 0.25,
    "quality_of_advice": 0.20,
    "fees": 0.12,
    "misconduct": 0.06,
    "conflict_of_interest": 0.02,
    "other": 0.05,
}
COMPLAINT_CHANNELS: Final[dict[str, float]] = {
    "hotline_12348": 0.55,
    "wechat": 0.20,
    "web": 0.15,
    "walk_in": 0.05,
    "transfer_12345": 0.05,
}
# Handling, in days (mean, spread); a share of complaints is handled late on purpose so that
# national supervision has something to show (estimates).
COMPLAINT_ACCEPTANCE_DAYS: Final = (2.0, 1.2)
COMPLAINT_LATE_ACCEPTANCE: Final = (0.20, (9.0, 20.0))  # share, uniform range of days
COMPLAINT_NOT_ACCEPTED_RATE: Final = 0.08
COMPLAINT_RESOLUTION_DAYS: Final = (18.0, 8.0)
COMPLAINT_LATE_RESOLUTION: Final = (0.10, (45.0, 70.0))
COMPLAINT_ACTION_RATE: Final = 0.35
COMPLAINT_OUTCOMES: Final[dict[str, float]] = {
    "upheld": 0.25,
    "partly_upheld": 0.20,
    "not_upheld": 0.55,
}
COMPLAINT_FINDINGS: Final[dict[str, dict[str, str]]] = {
    # category → finding when the complaint is (partly) upheld
    "attitude": {"upheld": "improper_conduct"},
    "delay": {"upheld": "unjustified_delay"},
    "quality_of_advice": {"upheld": "professional_error"},
    "fees": {"upheld": "improper_fees"},
    "misconduct": {"upheld": "practice_violation"},
    "conflict_of_interest": {"upheld": "undisclosed_conflict"},
    "other": {"upheld": "other"},
}
COMPLAINT_ACTIONS: Final[dict[str, float]] = {
    "apology": 0.40,
    "staff_reminded": 0.25,
    "fee_refunded": 0.10,
    "service_redone": 0.15,
    "referred_for_discipline": 0.05,
    "mediated": 0.05,
}
CALLBACK_DELAY_DAYS: Final = (1.5, 1.0)
CALLBACK_LATE_SHARE: Final = 0.10  # callbacks after a dissatisfied rating made after 5-9 days
