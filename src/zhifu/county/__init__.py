"""County profiles: the towns, institutions, billers and targets a county runs the programme with."""

from zhifu.county.loader import available_profiles, load_profile
from zhifu.county.models import (
    Biller,
    Businesses,
    CommerceCircle,
    CountyProfile,
    Institution,
    Target,
    Town,
    Village,
)

__all__ = [
    "Biller",
    "Businesses",
    "CommerceCircle",
    "CountyProfile",
    "Institution",
    "Target",
    "Town",
    "Village",
    "available_profiles",
    "load_profile",
]
