"""Bus, school-bus and scenic-area payments: offline validators, taps charged later with caps, passes, and
time-slot tickets that never oversell."""

from zhifu.transit import scenic, service
from zhifu.transit.validator import Decision, Validator

__all__ = ["Decision", "Validator", "scenic", "service"]
