"""Which channel a citizen's contact allows: an e-mail address, a French mobile, or neither."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]{2,}$")
# Metropolitan French mobiles: 06 and 07 (07 00 to 07 29 are not mobile ranges but
# are still allocated to mobile-like services; operators accept SMS to all 07).
_FRENCH_MOBILE = re.compile(r"^(?:\+33|0033|33|0)([67]\d{8})$")


def email_address(contact: str | None) -> str | None:
    """The address if `contact` is an e-mail address."""
    if not contact:
        return None
    candidate = contact.strip()
    return candidate.lower() if _EMAIL.match(candidate) else None


def french_mobile(contact: str | None) -> str | None:
    """The number in international format (+33612345678) if `contact` is a French mobile.

    Accepts what citizens type (06 12 34 56 78, 06.12...) and what phone networks put
    in caller ids (+33612345678, 0033612345678, 33612345678)."""
    if not contact:
        return None
    digits = re.sub(r"[\s.\-()/]", "", contact.strip())
    match = _FRENCH_MOBILE.match(digits)
    return f"+33{match.group(1)}" if match else None


def channel_for(contact: str | None) -> str | None:
    """ "email", "sms" or None (a landline, a name, nothing)."""
    if email_address(contact):
        return "email"
    if french_mobile(contact):
        return "sms"
    return None
