"""Settings of the SIP user agent."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from voice.rtp import SOURCE_POLICIES
from voice.sip.message import DEFAULT_LIMITS, Limits

LOOPBACK = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True)
class SipConfig:
    """The SIP stack's own configuration. In the app it comes from the `voice` settings
    (bot/settings/voice.py) through one conversion, `voice.channel.sip_config`; the
    fields that have no setting (timers, limits, ringing, user agent) keep these
    defaults there and are set only by tests and benchmarks."""

    host: str = "127.0.0.1"  # address the SIP socket binds to
    port: int = 5060  # 0: any free port (see SipAgent.port)
    rtp_port_min: int = 20000
    rtp_port_max: int = 20999
    public_address: str | None = None  # address put in Via/Contact/SDP; default `host`
    user: str = "guichet"  # user part of our Contact and From (the extension)
    display_name: str = "Guichet"
    registrar: str | None = None  # e.g. "sip:pbx.example.org:5060"; None: no REGISTER
    domain: str | None = None  # domain of our address-of-record; default: registrar's host
    auth_user: str | None = None  # digest user name (defaults to `user`)
    password: str | None = None
    register_expires: int = 600
    register_check: float = 30.0  # s between checks that the registrar still has us; 0: never
    register_retry_min: float = 2.0  # s before the first retry of a failed REGISTER
    register_retry_max: float = 300.0  # the back-off doubles up to this
    # Who may talk to us (networks): empty means this machine only. The registrar's
    # address is always added.
    allowed_peers: tuple[str, ...] = ()
    invite_burst: int = 10  # new INVITEs a source may send at once...
    invite_per_minute: float = 60.0  # ...and then per minute; beyond: 503
    max_server_transactions: int = 512  # requests remembered at once; beyond: dropped
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)
    rtp_source: str = "sdp"  # sdp: media only from the SDP's address; latch: see voice/rtp.py
    media_timeout: float = 30.0  # s without RTP before the call is dropped; 0: never
    idle_silence: bool = True  # keep sending silent RTP when nothing is playing
    max_calls: int = 20  # beyond that INVITEs get 486 Busy Here
    answer_delay: float = 0.0  # s of ringing before 200 OK
    ack_timeout: float = 8.0  # s to wait for the ACK of our 200 (RFC 3261 gives 64·T1)
    transfer_timeout: float = 10.0  # s to wait for the NOTIFY of a transfer's outcome
    user_agent: str = "Guichet"
    t1: float = 0.5  # RFC 3261 timer T1 (RTT estimate)
    t2: float = 4.0  # RFC 3261 timer T2

    def __post_init__(self) -> None:
        if self.host in ("0.0.0.0", "::", "") and not self.public_address:
            raise ValueError("binding to a wildcard address needs public_address for SDP/Contact")
        if not 0 < self.rtp_port_min <= self.rtp_port_max < 65536:
            raise ValueError("bad RTP port range")
        if self.rtp_source not in SOURCE_POLICIES:
            raise ValueError(f"rtp_source must be one of {SOURCE_POLICIES}")
        for peer in self.allowed_peers:
            ipaddress.ip_network(peer, strict=False)  # ValueError names the bad entry

    @property
    def advertised(self) -> str:
        return self.public_address or self.host

    @property
    def peer_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(peer, strict=False) for peer in self.allowed_peers or LOOPBACK
        )
