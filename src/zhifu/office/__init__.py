"""领导小组办公室 / The programme office: work items and their units, 会商, training and publicity, commerce
circles and pilot streets, turnover evidence for credit under consent, and SME products."""

from zhifu.office.service import (
    Actor,
    CircleIn,
    CreditIn,
    DecisionIn,
    MeetingIn,
    PublicityIn,
    SmeItem,
    TrainingIn,
    UpdateIn,
    actor_for,
    add_circle_merchants,
    circles,
    credit_evidence,
    ensure_loaded,
    item,
    items,
    load_programme,
    post_update,
    record_credit,
    record_meeting,
    record_training,
    sweep,
)

__all__ = ["Actor", "CircleIn", "CreditIn", "DecisionIn", "MeetingIn", "PublicityIn", "SmeItem", "TrainingIn",
           "UpdateIn", "actor_for", "add_circle_merchants", "circles", "credit_evidence", "ensure_loaded", "item",
           "items", "load_programme", "post_update", "record_credit", "record_meeting", "record_training", "sweep"]
