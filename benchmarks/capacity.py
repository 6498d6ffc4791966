"""Chat capacity of Guichet beside bare Rasa, in one invocation on the same machine.

Two stacks, one after the other, with the same message mix (chat_latency.UTTERANCES, a
new conversation every 10 messages) and the same closed-loop loads:

* **bare Rasa**: the small French bot of ../shared/FACTS.md (8 intents; WhitespaceTokenizer,
  word and char_wb 1-4 CountVectors, DIET 100 epochs, RulePolicy, MemoizationPolicy,
  TED 50 epochs), written and trained in a temporary directory, served by `rasa run`
  on the REST channel (in-memory tracker store, no custom actions);
* **Guichet**: the project's stack (chatbench.start_own_stack: Rasa + app, demo
  knowledge base, transcripts stored, actions in the app), driven through the web
  chat's WebSocket with the chat's rate limits off (every session is 127.0.0.1).
  `--variant NAME:KEY=VALUE,...` runs Guichet again with that environment (several
  variants allowed), so before/after figures come from the same run.

Each level of closed-loop concurrency (`--levels`) runs `--seconds` after a short
warm-up; a conversation sends its next message as soon as the reply arrives. Per
level: turns/s, p50/p95 latency, apologies (Guichet: the app's degraded reply, an
error frame or no reply; bare Rasa: an HTTP error, no reply, or a turn slower than
Guichet's 2.5 s Rasa timeout, i.e. what would have been an apology), CPU ms per turn
of each process (utime+stime from /proc, process and children) and the load average.
Levels stop after the first one that fails (p95 > 1 s or an apology) once 20 is done.

Printed: capacity (turns/s at the highest level with p95 <= 1 s and no apology), p95
at 20 conversations, CPU per turn per process, and each figure's ratio to bare Rasa.
Everything listens on 127.0.0.1; the run is bounded by the levels and `--seconds`.

Usage: python benchmarks/capacity.py [--levels 1,5,10,15,20,25,30,40,50,60,80] [--seconds 15]
           [--variant two-rasa:GUICHET__RASA__SERVERS=2] [--skip-bare] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat_latency import UTTERANCES
from chatbench import free_port, free_ports, percentile, rate_limits_off, start_own_stack, ws_url

from tools.launcher import seed_knowledge_base

ROOT = Path(__file__).resolve().parent.parent
RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
# Guichet's citizen gets the apology when Rasa has not answered by then
# (bot/settings.yml rasa.timeout_s): a slower bare-Rasa turn counts as one.
APOLOGY_AFTER_S = 2.5
REPLY_TIMEOUT_S = 15.0
MESSAGES_PER_CONVERSATION = 10
WARMUP_S = 3.0
P95_LIMIT_MS = 1000.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

# --- the bare bot of FACTS.md ------------------------------------------------------

BARE_CONFIG = """\
recipe: default.v1
language: fr
assistant_id: bare
pipeline:
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 4
  - name: DIETClassifier
    epochs: 100
    random_seed: 42
policies:
  - name: RulePolicy
  - name: MemoizationPolicy
  - name: TEDPolicy
    epochs: 50
    random_seed: 42
"""

# intent -> (examples, answer)
BARE_INTENTS: dict[str, tuple[list[str], str]] = {
    "greet": (
        [
            "bonjour",
            "salut",
            "bonsoir",
            "coucou",
            "bonjour madame",
            "hello",
            "bjr",
            "bonjour à vous",
            "salut la mairie",
            "bonjour monsieur",
        ],
        "Bonjour ! Que puis-je faire pour vous ?",
    ),
    "goodbye": (
        [
            "au revoir",
            "bonne journée",
            "à bientôt",
            "bye",
            "à plus",
            "bonne soirée",
            "au revoir madame",
            "ciao",
            "à la prochaine",
            "bonne fin de journée",
        ],
        "Au revoir et bonne journée !",
    ),
    "thanks": (
        [
            "merci",
            "merci beaucoup",
            "merci bien",
            "super merci",
            "je vous remercie",
            "merci pour votre aide",
            "c'est gentil merci",
            "parfait merci",
            "top merci",
            "mille mercis",
        ],
        "Avec plaisir !",
    ),
    "bot_challenge": (
        [
            "vous êtes un robot ?",
            "tu es un robot",
            "je parle à un humain ?",
            "c'est une machine ?",
            "es-tu une vraie personne",
            "vous êtes humain ?",
            "suis-je en train de parler à un bot",
            "tu es une IA ?",
            "c'est automatique ?",
            "il y a quelqu'un ?",
        ],
        "Je suis l'assistant automatisé de la mairie.",
    ),
    "bot_capabilities": (
        [
            "qu'est-ce que tu sais faire",
            "que peux-tu faire",
            "à quoi tu sers",
            "tu peux m'aider pour quoi",
            "quels sont tes services",
            "comment tu marches",
            "aide",
            "tu sais faire quoi",
            "que proposez-vous",
            "à quoi servez-vous",
        ],
        "Je réponds aux questions sur les horaires, les démarches et les services.",
    ),
    "opening_hours": (
        [
            "la mairie est ouverte le samedi ?",
            "quels sont vos horaires",
            "vous ouvrez à quelle heure",
            "horaires d'ouverture",
            "c'est ouvert demain ?",
            "la mairie ferme à quelle heure",
            "ouvert le lundi ?",
            "heures d'ouverture de la mairie",
            "vous êtes ouverts le midi ?",
            "jusqu'à quelle heure êtes-vous ouverts",
        ],
        "La mairie est ouverte du lundi au vendredi de 8 h 30 à 17 h 30.",
    ),
    "contact_info": (
        [
            "quel est le numéro de la mairie",
            "numéro de téléphone",
            "comment vous joindre",
            "votre adresse mail",
            "où se trouve la mairie",
            "je peux vous appeler ?",
            "adresse de la mairie",
            "téléphone de l'accueil",
            "contact de la mairie",
            "votre email",
        ],
        "Téléphone : 01 23 45 67 89, courriel : accueil@mairie.example.",
    ),
    "procedure": (
        [
            "comment refaire ma carte d'identité",
            "je veux inscrire mon fils à la cantine",
            "quand passe le ramassage des encombrants",
            "refaire mon passeport",
            "inscription à l'école",
            "déclarer une naissance",
            "demande d'acte de mariage",
            "les encombrants c'est quel jour",
            "inscrire ma fille au périscolaire",
            "renouveler mon passeport",
        ],
        "Cette démarche se fait en ligne ou à l'accueil de la mairie.",
    ),
}


def bare_bot_files() -> dict[str, str]:
    nlu = ['version: "3.1"', "nlu:"]
    rules = ['version: "3.1"', "rules:"]
    responses = ['version: "3.1"', "intents:"]
    responses += [f"  - {name}" for name in BARE_INTENTS]
    responses.append("responses:")
    for name, (examples, answer) in BARE_INTENTS.items():
        nlu.append(f"- intent: {name}\n  examples: |")
        nlu += [f"    - {e}" for e in examples]
        rules += [
            f"- rule: {name}",
            "  steps:",
            f"  - intent: {name}",
            f"  - action: utter_{name}",
        ]
        responses += [f"  utter_{name}:", f"  - text: {json.dumps(answer, ensure_ascii=False)}"]
    stories = [
        'version: "3.1"',
        "stories:",
        "- story: a short visit",
        "  steps:",
        *[
            line
            for name in ("greet", "opening_hours", "thanks", "goodbye")
            for line in (f"  - intent: {name}", f"  - action: utter_{name}")
        ],
        "- story: a procedure",
        "  steps:",
        *[
            line
            for name in ("greet", "procedure", "contact_info", "thanks")
            for line in (f"  - intent: {name}", f"  - action: utter_{name}")
        ],
    ]
    return {
        "config.yml": BARE_CONFIG,
        "domain.yml": "\n".join(responses) + "\n",
        "data/nlu.yml": "\n".join(nlu) + "\n",
        "data/rules.yml": "\n".join(rules) + "\n",
        "data/stories.yml": "\n".join(stories) + "\n",
    }


def rasa_child_env() -> dict[str, str]:
    return {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONWARNINGS": "ignore",
    }


def train_bare(workdir: Path) -> Path:
    """The bare bot's model, trained in `workdir` (reused if the files are unchanged)."""
    files = bare_bot_files()
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    model = workdir / "models" / f"bare-{digest}.tar.gz"
    if model.exists():
        return model
    for name, text in files.items():
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    print("capacity: training the bare bot …", file=sys.stderr, flush=True)
    subprocess.run(
        [str(RASA_BIN), "train", "--out", "models", "--fixed-model-name", model.name[:-7]],
        cwd=workdir,
        env=rasa_child_env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    print(f"capacity: trained in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return model


def start_bare(
    workdir: Path, model: Path, port: int, timeout_s: float = 180
) -> subprocess.Popen[bytes]:
    log = (workdir / "rasa.out").open("ab")
    proc = subprocess.Popen(
        [
            str(RASA_BIN),
            "run",
            "--model",
            str(model),
            "--interface",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=workdir,
        env=rasa_child_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"bare rasa exited ({proc.returncode}); see {workdir / 'rasa.out'}")
        try:
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise RuntimeError(f"bare rasa did not answer within {timeout_s:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        except ProcessLookupError:
            pass


# --- CPU from /proc --------------------------------------------------------------


def cpu_s(pid: int) -> float:
    """utime+stime of a process and its live descendants, in seconds."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
            for task in Path(f"/proc/{p}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total / CLK_TCK


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- one turn, two ways ------------------------------------------------------------


@dataclass
class Outcome:
    latency_ms: float
    apology: bool


class Conversation:
    """Sends one message and waits for its reply; `open`/`close` per conversation."""

    async def open(self, http: aiohttp.ClientSession) -> None: ...

    async def turn(self, text: str) -> Outcome:
        raise NotImplementedError

    async def close(self) -> None: ...


class RestConversation(Conversation):
    def __init__(self, base_url: str) -> None:
        self.url = f"{base_url}/webhooks/rest/webhook"
        self.sender = str(uuid.uuid4())
        self.http: aiohttp.ClientSession | None = None

    async def open(self, http: aiohttp.ClientSession) -> None:
        self.http = http

    async def turn(self, text: str) -> Outcome:
        assert self.http is not None
        started = time.perf_counter()
        try:
            async with self.http.post(
                self.url,
                json={"sender": self.sender, "message": text},
                timeout=aiohttp.ClientTimeout(total=REPLY_TIMEOUT_S),
            ) as resp:
                body = await resp.json() if resp.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            body = None
        elapsed = time.perf_counter() - started
        apology = not body or elapsed > APOLOGY_AFTER_S
        return Outcome(elapsed * 1000, apology)


class WsConversation(Conversation):
    def __init__(self, base_url: str) -> None:
        self.url = ws_url(base_url, str(uuid.uuid4()))
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def open(self, http: aiohttp.ClientSession) -> None:
        self.ws = await http.ws_connect(self.url)
        await self.ws.receive_json(timeout=REPLY_TIMEOUT_S)  # history

    async def turn(self, text: str) -> Outcome:
        assert self.ws is not None
        started = time.perf_counter()
        apology = True
        try:
            await self.ws.send_json({"type": "message", "text": text})
            while True:
                frame = await self.ws.receive_json(timeout=REPLY_TIMEOUT_S)
                if frame.get("type") == "bot":
                    apology = any(m.get("degraded") for m in frame.get("messages", []))
                    break
                if frame.get("type") == "error":
                    break
        except (aiohttp.ClientError, TimeoutError, TypeError, ValueError):
            pass
        return Outcome((time.perf_counter() - started) * 1000, apology)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


# --- closed-loop levels ------------------------------------------------------------


@dataclass
class Level:
    conversations: int
    seconds: float
    turns: int
    turns_per_s: float
    p50_ms: float
    p95_ms: float
    apologies: int
    cpu_ms_per_turn: dict[str, float]
    loadavg: str

    @property
    def passes(self) -> bool:
        return self.p95_ms <= P95_LIMIT_MS and self.apologies == 0


async def closed_loop(
    make: Callable[[], Conversation],
    conversations: int,
    seconds: float,
    pids: dict[str, int],
    seed: int,
) -> Level:
    rng = random.Random(seed)
    window: list[float] = []  # [start, end] of the measured window
    outcomes: list[Outcome] = []
    cpu_before: dict[str, float] = {}
    cpu_after: dict[str, float] = {}
    deadline = time.perf_counter() + WARMUP_S + seconds

    async def one(r: random.Random) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as http:
            while time.perf_counter() < deadline:
                conv = make()
                try:
                    await conv.open(http)
                except (aiohttp.ClientError, TimeoutError, ValueError):
                    outcomes.append(Outcome(0.0, True))
                    await asyncio.sleep(0.1)
                    continue
                offset = r.randrange(len(UTTERANCES))
                try:
                    for i in range(MESSAGES_PER_CONVERSATION):
                        if time.perf_counter() >= deadline:
                            break
                        text = UTTERANCES[(i + offset) % len(UTTERANCES)]
                        out = await conv.turn(text)
                        end = time.perf_counter()
                        if window and window[0] <= end <= window[1]:
                            outcomes.append(out)
                finally:
                    await conv.close()

    async def measure() -> None:
        await asyncio.sleep(WARMUP_S)
        cpu_before.update({n: cpu_s(p) for n, p in pids.items()})
        window[:] = [time.perf_counter(), time.perf_counter() + seconds]
        await asyncio.sleep(seconds)
        cpu_after.update({n: cpu_s(p) for n, p in pids.items()})

    await asyncio.gather(
        measure(), *(one(random.Random(rng.random())) for _ in range(conversations))
    )
    lat = [o.latency_ms for o in outcomes]
    turns = len(outcomes)
    return Level(
        conversations=conversations,
        seconds=seconds,
        turns=turns,
        turns_per_s=round(turns / seconds, 1),
        p50_ms=round(statistics.median(lat), 1) if lat else float("nan"),
        p95_ms=round(percentile(lat, 0.95), 1),
        apologies=sum(o.apology for o in outcomes),
        cpu_ms_per_turn={
            n: round((cpu_after[n] - cpu_before[n]) * 1000 / turns, 1) if turns else float("nan")
            for n in pids
        },
        loadavg=loadavg(),
    )


@dataclass
class StackRun:
    name: str
    levels: list[Level] = field(default_factory=list)

    @property
    def capacity(self) -> float:
        passing = [lv for lv in self.levels if lv.passes]
        return max(passing, key=lambda lv: lv.conversations).turns_per_s if passing else 0.0

    def at(self, conversations: int) -> Level | None:
        return next((lv for lv in self.levels if lv.conversations == conversations), None)


async def sweep(
    name: str,
    make: Callable[[], Conversation],
    pids: dict[str, int],
    levels: list[int],
    seconds: float,
) -> StackRun:
    run = StackRun(name)
    # Warm-up: the first turns of a fresh server are not steady state.
    await closed_loop(make, 2, 2.0, pids, seed=0)
    for n in levels:
        level = await closed_loop(make, n, seconds, pids, seed=n)
        run.levels.append(level)
        print(f"  {name:>14} {fmt_level(level)}", file=sys.stderr, flush=True)
        if not level.passes and n >= 20:
            break
    return run


def fmt_level(lv: Level) -> str:
    cpu = ", ".join(f"{k} {v}" for k, v in lv.cpu_ms_per_turn.items())
    return (
        f"{lv.conversations:>3} conv: {lv.turns_per_s:>5} turns/s  p50 {lv.p50_ms:>6} ms  "
        f"p95 {lv.p95_ms:>6} ms  apologies {lv.apologies:>3}/{lv.turns:<4}  "
        f"CPU ms/turn {cpu}  load {lv.loadavg}"
    )


# --- the two stacks ----------------------------------------------------------------


def run_bare(levels: list[int], seconds: float, workdir: Path) -> StackRun:
    model = train_bare(workdir)
    port = free_port()
    proc = start_bare(workdir, model, port)
    try:
        url = f"http://127.0.0.1:{port}"
        return asyncio.run(
            sweep("bare Rasa", lambda: RestConversation(url), {"rasa": proc.pid}, levels, seconds)
        )
    finally:
        stop(proc)


def seeded_template() -> Path:
    """A data directory holding only the imported demo base (imported once per run:
    about 50 s of embeddings); each Guichet stack starts on a fresh copy of it."""
    template = Path(tempfile.mkdtemp(prefix="guichet-capacity-base-"))
    seed_knowledge_base(template)
    return template


def run_guichet(
    name: str, env: dict[str, str], levels: list[int], seconds: float, template: Path
) -> StackRun:
    extra = {**rate_limits_off("per_ip", "per_session"), **env}
    scratch = Path(tempfile.mkdtemp(prefix="guichet-capacity-"))
    shutil.copytree(template, scratch, dirs_exist_ok=True)
    servers = int(env.get("GUICHET__RASA__SERVERS", "1"))
    ports = (free_port(), free_port(), free_ports(servers))
    # The variant's environment reaches Rasa too (the launcher passes os.environ on).
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        stack = start_own_stack(
            "guichet-capacity-", extra, ports, data_dir=scratch, rasa_servers=servers
        )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        pids = {n: p.pid for n, p in stack.processes.items()}
        url = stack.app_url
        return asyncio.run(sweep(name, lambda: WsConversation(url), pids, levels, seconds))
    finally:
        stack.stop()
        shutil.rmtree(stack.settings.data_dir, ignore_errors=True)


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, assignments = text.partition(":")
    env = {}
    for item in filter(None, assignments.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"variant {text!r}: {item!r} is not KEY=VALUE")
        env[key.strip()] = value.strip()
    return name, env


def summary(runs: list[StackRun]) -> dict[str, Any]:
    bare = next((r for r in runs if r.name == "bare Rasa"), None)
    out: dict[str, Any] = {}
    for r in runs:
        at20 = r.at(20)
        capacity_level = max(
            (lv for lv in r.levels if lv.passes), key=lambda lv: lv.conversations, default=None
        )
        item: dict[str, Any] = {
            "capacity_turns_per_s": r.capacity,
            "capacity_conversations": capacity_level.conversations if capacity_level else 0,
            "p95_ms_at_20": at20.p95_ms if at20 else None,
            "apologies_at_20": at20.apologies if at20 else None,
            "cpu_ms_per_turn_at_20": at20.cpu_ms_per_turn if at20 else None,
            "levels": [lv.__dict__ for lv in r.levels],
        }
        if bare is not None and r is not bare and bare.capacity:
            item["capacity_ratio_to_bare"] = round(r.capacity / bare.capacity, 2)
            b20 = bare.at(20)
            if b20 and at20:
                item["p95_ratio_to_bare"] = round(at20.p95_ms / b20.p95_ms, 2)
                bare_cpu = b20.cpu_ms_per_turn["rasa"]
                item["rasa_cpu_ratio_to_bare"] = round(
                    sum(v for k, v in at20.cpu_ms_per_turn.items() if k.startswith("rasa"))
                    / bare_cpu,
                    2,
                )
        out[r.name] = item
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,5,10,15,20,25,30,40,50,60,80")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per level")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        type=parse_variant,
        help="NAME:KEY=VALUE,... run Guichet again with this environment",
    )
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument(
        "--skip-guichet", action="store_true", help="only the variants (and bare Rasa)"
    )
    parser.add_argument(
        "--bare-dir",
        type=Path,
        help="where the bare bot is trained (kept, reused); default a temp dir",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    levels = sorted({int(x) for x in args.levels.split(",")} | {20})
    if max(levels) > 200 or args.seconds > 120:
        parser.error("bounded: at most 200 conversations and 120 s per level")

    started = time.monotonic()
    runs: list[StackRun] = []
    print(f"capacity: load average at start {loadavg()}, {os.cpu_count()} CPUs", file=sys.stderr)
    if not args.skip_bare:
        workdir = args.bare_dir or Path(tempfile.mkdtemp(prefix="capacity-bare-"))
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            runs.append(run_bare(levels, args.seconds, workdir))
        finally:
            if args.bare_dir is None:
                shutil.rmtree(workdir, ignore_errors=True)
    stacks: list[tuple[str, dict[str, str]]] = [] if args.skip_guichet else [("Guichet", {})]
    if stacks or args.variant:
        template = seeded_template()
        try:
            for name, env in stacks + args.variant:
                runs.append(run_guichet(name, env, levels, args.seconds, template))
        finally:
            shutil.rmtree(template, ignore_errors=True)

    result = summary(runs)
    result["_run"] = {"wall_s": round(time.monotonic() - started), "loadavg_end": loadavg()}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"\nclosed loop, {args.seconds:.0f} s per level, p95 limit {P95_LIMIT_MS:.0f} ms")
    print(
        "| stack | capacity turns/s (conv.) | p95 at 20 | apologies at 20 "
        "| CPU ms/turn at 20 | vs bare |"
    )
    print("|---|---|---|---|---|---|")
    for name, item in result.items():
        if name.startswith("_"):
            continue
        cpu = ", ".join(f"{k} {v}" for k, v in (item["cpu_ms_per_turn_at_20"] or {}).items())
        ratio = (
            f"capacity ×{item['capacity_ratio_to_bare']}, p95 ×{item.get('p95_ratio_to_bare')}, "
            f"Rasa CPU ×{item.get('rasa_cpu_ratio_to_bare')}"
            if "capacity_ratio_to_bare" in item
            else ""
        )
        print(
            f"| {name} | {item['capacity_turns_per_s']} ({item['capacity_conversations']}) | "
            f"{item['p95_ms_at_20']} ms | {item['apologies_at_20']} | {cpu} | {ratio} |"
        )
    print(f"wall {result['_run']['wall_s']} s, load average at end {result['_run']['loadavg_end']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
