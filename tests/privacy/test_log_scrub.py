"""Log scrubbing: an ID number with a valid check digit, a Luhn-valid card number and a mobile number are written
masked in any log line (in the message, its arguments or a traceback), while order numbers, amounts, epoch
milliseconds and ids are left alone; the app installs it, so a careless line in a request logs no plaintext."""

from __future__ import annotations

import logging
import random

from zhifu.privacy import scrub
from zhifu.reference import generate_resident_id, mask_account, mask_id, mask_phone

ID_NO = generate_resident_id(random.Random(7))
CARD = "6228480402564890018"  # Luhn-valid
PHONE = "13953301234"


def test_scrub_masks_personal_numbers_and_nothing_else() -> None:
    text = f"payer {ID_NO} card {CARD} phone {PHONE}"
    assert scrub.scrub(text) == f"payer {mask_id(ID_NO)} card {mask_account(CARD)} phone {mask_phone(PHONE)}"
    keep = "order 20220615000123 at 1655258400123 amount 1250 pay_01HZX6228480402564890019 card 6228480402564890019"
    assert scrub.scrub(keep) == keep  # not Luhn-valid, inside an id, or too short to be a card


def test_installed_scrubber_masks_messages_arguments_and_tracebacks(platform, caplog) -> None:  # type: ignore[no-untyped-def]
    scrub.install()  # the platform's app has installed it already; installing again changes nothing
    caplog.set_level(logging.INFO)
    log = logging.getLogger("zhifu.test.scrub")
    log.warning("a careless line with %s and %s", ID_NO, PHONE)
    log.info(f"card {CARD} inline")
    try:
        raise ValueError(f"bad card {CARD}")
    except ValueError:
        log.exception("refused")
    text = caplog.text + "\n".join(r.exc_text or "" for r in caplog.records)
    for value in (ID_NO, CARD, PHONE):
        assert value not in text
    assert mask_id(ID_NO) in text and mask_phone(PHONE) in text and mask_account(CARD) in text
