"""Telephony: the `VoiceSession` interface and its SIP/RTP transport."""
