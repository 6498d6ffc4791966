"""Code that runs inside Rasa's own process (Python 3.10 venv), never in the app.

Only Rasa and the standard library may be imported here, plus modules of the
project that import nothing else (bot/conversation/intent_policy.py).
"""
