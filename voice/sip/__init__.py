"""A small asyncio SIP user agent (UDP) answering calls as `VoiceSession`s."""

from voice.sip.agent import SipAgent
from voice.sip.call import SipCall
from voice.sip.config import SipConfig

__all__ = ["SipAgent", "SipCall", "SipConfig"]
