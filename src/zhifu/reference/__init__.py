"""Reference data and checks: merchant category codes, credit codes, identity numbers, masking."""

from zhifu.reference.masking import mask_account, mask_id, mask_phone
from zhifu.reference.mcc import Mcc, all_mccs, get_mcc, is_known_mcc
from zhifu.reference.validation import (
    MerchantType,
    account_name_ok,
    check_credit_code,
    check_resident_id,
    generate_credit_code,
    generate_resident_id,
)

__all__ = [
    "Mcc",
    "MerchantType",
    "account_name_ok",
    "all_mccs",
    "check_credit_code",
    "check_resident_id",
    "generate_credit_code",
    "generate_resident_id",
    "get_mcc",
    "is_known_mcc",
    "mask_account",
    "mask_id",
    "mask_phone",
]
