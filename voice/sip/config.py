"""Settings of the SIP user agent."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SipConfig:
    host: str = "127.0.0.1"  # address the SIP socket binds to
    port: int = 5060  # 0: any free port (see SipAgent.port)
    rtp_port_min: int = 20000
    rtp_port_max: int = 20999
    public_address: str | None = None  # address put in Via/Contact/SDP; default `host`
    user: str = "guichet"  # user part of our Contact and From
    display_name: str = "Guichet"
    registrar: str | None = None  # e.g. "sip:pbx.example.org:5060"; None: no REGISTER
    auth_user: str | None = None  # digest user name (defaults to `user`)
    password: str | None = None
    register_expires: int = 600
    media_timeout: float = 30.0  # s without RTP before the call is dropped; 0: never
    idle_silence: bool = True  # keep sending silent RTP when nothing is playing
    max_calls: int = 20  # beyond that INVITEs get 486 Busy Here
    answer_delay: float = 0.0  # s of ringing before 200 OK
    transfer_timeout: float = 10.0  # s to wait for the NOTIFY of a transfer's outcome
    user_agent: str = "Guichet"
    t1: float = 0.5  # RFC 3261 timer T1 (RTT estimate)
    t2: float = 4.0  # RFC 3261 timer T2

    def __post_init__(self) -> None:
        if self.host in ("0.0.0.0", "::", "") and not self.public_address:
            raise ValueError("binding to a wildcard address needs public_address for SDP/Contact")
        if not 0 < self.rtp_port_min <= self.rtp_port_max < 65536:
            raise ValueError("bad RTP port range")

    @property
    def advertised(self) -> str:
        return self.public_address or self.host
