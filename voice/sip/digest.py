"""HTTP digest authentication for SIP (RFC 2617, RFC 7616; RFC 3261 §22)."""

from __future__ import annotations

import hashlib
import secrets


def digest_authorization(
    challenge: str, method: str, uri: str, user: str, password: str, cnonce: str | None = None
) -> str | None:
    """The Authorization value for a Digest challenge (RFC 2617 / RFC 7616, MD5 or SHA-256)."""
    scheme, _, rest = challenge.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    for item in _split_commas(rest):
        key, _, value = item.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    algorithm = params.get("algorithm", "MD5")
    algo = algorithm.upper().removesuffix("-SESS")
    hasher = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}.get(algo)
    if hasher is None:
        return None

    def h(text: str) -> str:
        return hasher(text.encode()).hexdigest()

    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1 = h(f"{user}:{realm}:{password}")
    cnonce = cnonce or secrets.token_hex(8)
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    fields = [
        f'username="{user}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        f"algorithm={algorithm}",
    ]
    if "auth" in qops:
        nc = "00000001"
        response = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        fields += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        response = h(f"{ha1}:{nonce}:{ha2}")
    fields.append(f'response="{response}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)


def _split_commas(text: str) -> list[str]:
    out: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    out.append("".join(buf))
    return [item.strip() for item in out if item.strip()]
