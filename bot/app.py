"""Composition root: builds every layer once and wires them together."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from aiohttp import web
from rasa_sdk.executor import ActionExecutor
from sqlalchemy.ext.asyncio import AsyncEngine

import knowledge_base
from actions import ActionDependencies, build_actions
from bot.admin import register_admin
from bot.channels.agent_console import ConsoleDependencies, register_agent_console
from bot.channels.webchat import WebChatChannel
from bot.conversation.action_server import create_action_app
from bot.conversation.coordination import Presence, shared_state
from bot.conversation.events import EventBus, create_bus
from bot.conversation.handoff import HandoffService
from bot.conversation.rasa_client import RasaClient
from bot.conversation.service import ConversationService
from bot.conversation.understanding import Understanding
from bot.core.db import create_engine
from bot.core.static import CSS, HTML, JS, SVG, StaticFiles
from bot.domain.reports import ReportService
from bot.domain.town import town_info
from bot.notifications.compose import Notifier
from bot.notifications.outbox import OutboxStore
from bot.notifications.sender import NotificationSender, transports_for
from bot.observability.http import metrics_handler, observe
from bot.retention import purge
from bot.schema import create_schema
from bot.security.headers import add_security_headers
from bot.security.limits import networks
from bot.security.origins import OriginPolicy
from bot.settings import Settings
from bot.storage.calls import CallStore
from bot.storage.handoffs import HandoffStore, TicketStore
from bot.storage.reports import ReportStore
from bot.storage.transcripts import TranscriptStore
from knowledge_base.life_events import ALIASES_FILE, LifeEvents
from knowledge_base.service import KnowledgeBase
from voice.channel import PhoneChannel, PhoneDependencies

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "web" / "static"
WIDGET_FILES = StaticFiles(
    STATIC_DIR,
    {
        "widget.js": JS,
        "widget.css": CSS,
        "demo.js": JS,
        "demo.css": CSS,
        "index.html": HTML,
        "favicon.svg": SVG,  # every page links it: browsers ask /favicon.ico otherwise
    },
    cache_control=None,  # cached by the towns' visitors as the browser sees fit
)
OPENAPI_FILE = Path(__file__).parent / "web" / "openapi.yaml"
# Public routes take small JSON bodies only.
MAX_PUBLIC_REQUEST_BYTES = 64 * 1024


PURGE_INTERVAL_S = 6 * 3600
DEMO_BASE = Path(knowledge_base.__file__).parent / "demo"


def life_events_dir(data_dir: Path) -> Path:
    """Where the aliases of the base's life events are (knowledge_base/life_events.py)."""
    return data_dir if (data_dir / ALIASES_FILE).is_file() else DEMO_BASE


async def purge_periodically(
    engine: AsyncEngine, settings: Settings, done: asyncio.Event | None = None
) -> None:
    """RGPD retention: delete what is older than privacy.retention_days, at start then
    every 6 h. `done` is set after each round (tests wait for the start-up round, which
    would otherwise race with the rows they seed)."""
    while True:
        try:
            counts = await purge(
                engine, settings.data_dir, settings.retention_days, settings.rasa_tracker_url
            )
            if any(counts.values()):
                log.info("retention purge: %s", counts)
        except Exception:
            log.exception("retention purge failed; retrying later")
        if done is not None:
            done.set()
        await asyncio.sleep(PURGE_INTERVAL_S)


def start_notifications(
    settings: Settings, engine: AsyncEngine
) -> tuple[Notifier | None, OutboxStore | None, NotificationSender | None]:
    """Acknowledgements and routing (bot/notifications): off unless a transport is on."""
    config = settings.notifications
    if not config.enabled:
        return None, None, None
    notifier = Notifier(
        config,
        settings.town,
        settings.handoff.hours.timezone,
        settings.retention_days,
        settings.handoff.hours,
    )
    outbox = OutboxStore(engine)
    sender = NotificationSender(outbox, transports_for(config), config.sender)
    sender.attach(notifier)
    log.info(
        "notifications on: e-mail %s, SMS %s",
        "on" if config.smtp.enabled else "off",
        "on" if config.sms.enabled else "off",
    )
    return notifier, outbox, sender


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    rasa: RasaClient
    conversation: ConversationService
    reports: ReportService
    knowledge: KnowledgeBase
    handoff: HandoffService
    bus: EventBus
    executor: ActionExecutor
    background: list[asyncio.Task[None]]
    calls: CallStore
    phone: PhoneChannel | None = None
    presence: Presence | None = None
    notifier: Notifier | None = None
    outbox: OutboxStore | None = None
    sender: NotificationSender | None = None
    # The base's life events, shared by the reading of messages and the life-event
    # action, kept up to date by the knowledge base (staff's edits included).
    life_events: LifeEvents | None = None
    # Set once the retention purge has run (at start-up, then every 6 h).
    purged: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    async def start(cls, settings: Settings) -> Services:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.database_url)
        await create_schema(engine)
        rasa = RasaClient(settings.rasa.urls, settings.rasa.timeout_s, settings.rasa.token)
        await rasa.start()
        notifier, outbox, sender = start_notifications(settings, engine)
        reports = ReportService(ReportStore(engine, notifier))
        knowledge = KnowledgeBase(engine, settings.data_dir, chroma_url=settings.shared.chroma_url)
        await knowledge.start()
        # Scaled out (redis.url): pushes, agents' presence and turn locks go through
        # Redis so that every app instance sees them (docs/operations.md).
        bus = create_bus(settings.shared.redis_url)
        await bus.start()
        presence, locks = shared_state(bus)
        await presence.start()
        transcripts = TranscriptStore(engine)
        # Life events come from the base's tags; their aliases from the data
        # directory's _life_events.yml if the town wrote one, else the demo base's.
        life_events = await knowledge.life_events(life_events_dir(settings.data_dir))
        handoff = HandoffService(
            HandoffStore(engine),
            TicketStore(engine, notifier),
            transcripts,
            rasa,
            bus,
            settings.handoff,
            presence,
        )
        await handoff.requeue_orphans()
        conversation = ConversationService(
            rasa,
            transcripts,
            settings.town,
            settings.chat,
            knowledge.queries,
            handoff,
            locks,
            Understanding(knowledge, transcripts, life_events),
        )
        executor = ActionExecutor()
        deps = ActionDependencies(
            town=settings.town,
            reports=reports,
            knowledge=knowledge,
            handoff=handoff,
            life_events=life_events,
        )
        for action in build_actions(deps):
            executor.register_action(action)
        # Articles imported or edited by another process reach this index too.
        purged = asyncio.Event()
        background = [
            asyncio.create_task(knowledge.follow()),
            asyncio.create_task(purge_periodically(engine, settings, purged)),
        ]
        if settings.shared.redis_url:
            background.append(asyncio.create_task(handoff.watch_orphans()))
        if sender is not None:
            background.append(asyncio.create_task(sender.run()))
        services = cls(
            settings,
            engine,
            rasa,
            conversation,
            reports,
            knowledge,
            handoff,
            bus,
            executor,
            background,
            CallStore(engine),
            presence=presence,
            notifier=notifier,
            outbox=outbox,
            sender=sender,
            life_events=life_events,
            purged=purged,
        )
        services.phone = PhoneChannel(
            PhoneDependencies(
                settings,
                services.conversation,
                handoff,
                services.calls,
                notifier=notifier,
                outbox=outbox,
            )
        )
        if not await services.phone.start():
            services.phone = None
        return services

    async def close(self) -> None:
        if self.phone is not None:
            await self.phone.stop()
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        if self.sender is not None:
            await self.sender.close()
        if self.presence is not None:
            await self.presence.close()
        await self.bus.close()
        await self.rasa.close()
        await self.engine.dispose()


# The widget is embedded on the town's own site, another origin than the app:
# which sites may call the chat API is security.allowed_origins (bot/security/origins.py).
CORS_PREFIX = "/api/chat/"


def create_public_app(services: Services) -> web.Application:
    origins = OriginPolicy(services.settings.security.allowed_origins)
    app = web.Application(
        client_max_size=MAX_PUBLIC_REQUEST_BYTES,
        middlewares=[observe, origins.middleware()],
    )
    # Every response, including errors raised before a handler: see bot/security/headers.py.
    app.on_response_prepare.append(add_security_headers)
    settings = services.settings
    WebChatChannel(services.conversation, services.bus, settings.security).register(app)

    async def index(_: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def town(_: web.Request) -> web.Response:
        return web.json_response(town_info(services.settings.town))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks: dict[str, bool] = {"rasa": await services.rasa.is_ready()}

        async def database() -> None:
            async with services.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))

        try:
            # Bounded: a PostgreSQL that is away must not hold the probe.
            await asyncio.wait_for(database(), 3)
            checks["database"] = True
        except Exception as exc:
            log.warning("database readiness check failed: %r", exc)
            checks["database"] = False
        if services.settings.shared.redis_url:
            checks["redis"] = await services.bus.healthy()
        ready = all(checks.values())
        return web.json_response(
            {"status": "ready" if ready else "degraded", "checks": checks},
            status=200 if ready else 503,
        )

    async def preflight(_: web.Request) -> web.Response:
        return web.Response(status=204)

    app.router.add_route("OPTIONS", CORS_PREFIX + "{tail:.*}", preflight)
    app.router.add_get("/", index)
    app.router.add_get("/api/town", town)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    # Prometheus: loopback only unless metrics.allow_from says otherwise (docs/security.md).
    app.router.add_get(
        "/metrics",
        metrics_handler(
            networks(settings.metrics.allow_from), networks(settings.security.trusted_proxies)
        ),
    )

    async def openapi(_: web.Request) -> web.FileResponse:
        return web.FileResponse(OPENAPI_FILE, headers={"Content-Type": "application/yaml"})

    app.router.add_get("/api/openapi.yaml", openapi)
    # The widget's files, loaded by the towns' sites (and the demo page's).
    app.router.add_get("/static/{name}", WIDGET_FILES.handler)
    auth = register_admin(
        app,
        services.engine,
        services.knowledge,
        services.settings.data_dir,
        services.settings.security.trusted_proxies,
    )
    console = ConsoleDependencies(
        bus=services.bus,
        handoff=services.handoff,
        reports=services.reports,
        rasa=services.rasa,
        conversation=services.conversation,
        knowledge=services.knowledge,
    )
    register_agent_console(app, console, auth)
    return app


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run the public app and the internal action endpoint until stopped."""
    services = await Services.start(settings)
    runners = [
        (web.AppRunner(create_public_app(services), access_log=None), settings.server),
        (web.AppRunner(create_action_app(services.executor), access_log=None), settings.actions),
    ]
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        for runner, listen in runners:
            await runner.setup()
            await web.TCPSite(runner, listen.host, listen.port).start()
        log.info(
            "guichet listening on http://%s:%d (actions on %s:%d)",
            settings.server.host,
            settings.server.port,
            settings.actions.host,
            settings.actions.port,
        )
        await stop.wait()
    finally:
        for runner, _ in runners:
            await runner.cleanup()
        await services.close()
