"""/admin/stats (the page) and /admin/stats.csv (the export): handlers and sections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from bot.admin.auth import current_session, require_role
from bot.admin.context import admin_context
from bot.admin.pages import CONFIDENCE_LABELS, TIMEZONE, Markup, render_page
from bot.admin.stats.charts import (
    PALETTE,
    channel_label,
    daily_chart,
    fmt_duration,
    fmt_percent,
    hbar_chart,
)
from bot.admin.stats.export import to_csv
from bot.admin.stats.queries import (
    ALLOWED_DAYS,
    CONFIDENCES,
    DEFAULT_DAYS,
    OUTCOMES,
    TOP,
    TRACKER_FILE,
    Stats,
    collect,
)
from bot.admin.users import Role, StaffSession

OUTCOME_LABELS = {
    "handed_back": "Rendues à l’assistant",
    "closed": "Closes par l’agent",
    "abandoned": "Abandonnées (citoyen parti de la file)",
    "open": "Encore ouvertes",
}


# --- page ---
@dataclass(frozen=True)
class Table:
    caption: str
    head: Sequence[str]
    rows: Sequence[Sequence[object]]


@dataclass(frozen=True)
class Section:
    heading: str
    id: str
    intro: str
    chart: Markup | None
    table: Table | None  # None: no figures, `intro` says why


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def stats_html(session: StaffSession, stats: Stats) -> str:
    days = len(stats.days)
    channel_head = [channel_label(c) for c in stats.channels]
    daily_rows = [
        [
            f"{d:%d/%m/%Y}",
            *(stats.per_day[d].get(c, 0) for c in stats.channels),
            sum(stats.per_day[d].values()),
        ]
        for d in stats.days
    ]
    daily_table = Table(
        "Conversations par jour et par canal", ["Jour", *channel_head, "Total"], daily_rows
    )

    outcome_rows = [(OUTCOME_LABELS[k], stats.outcomes.get(k, 0)) for k in OUTCOMES]
    handoff_section = Section(
        "Issue des conversations transmises à un agent",
        "h-outcomes",
        f"{_count(stats.handoffs, 'demande', 'demandes')} de mise en relation sur la période.",
        hbar_chart(
            "chart-outcomes",
            "Issue des conversations transmises à un agent",
            [(label, n, str(n)) for label, n in outcome_rows],
        ),
        Table("Issue des mises en relation", ["Issue", "Nombre"], outcome_rows),
    )
    wait_rows = [
        ("Médiane", stats.wait_median_s or 0, fmt_duration(stats.wait_median_s)),
        ("90e centile", stats.wait_p90_s or 0, fmt_duration(stats.wait_p90_s)),
    ]
    wait_section = Section(
        "Attente avant la prise en charge",
        "h-waits",
        f"Sur {_count(stats.claimed, 'conversation prise', 'conversations prises')} en charge ; "
        "9 sur 10 ont attendu moins que le 90e centile.",
        hbar_chart("chart-waits", "Attente avant la prise en charge", wait_rows, color=PALETTE[2]),
        Table(
            "Attente avant la prise en charge",
            ["Mesure", "Durée"],
            [(a, c) for a, _, c in wait_rows],
        ),
    )
    ticket_rows = [("Ouvertes", stats.tickets_opened), ("Closes", stats.tickets_closed)]
    ticket_section = Section(
        "Demandes de rappel",
        "h-tickets",
        "Demandes créées sur la période, et demandes closes sur la période.",
        hbar_chart(
            "chart-tickets",
            "Demandes de rappel ouvertes et closes",
            [(label, n, str(n)) for label, n in ticket_rows],
            color=PALETTE[1],
        ),
        Table("Demandes de rappel", ["Demandes", "Nombre"], ticket_rows),
    )
    if stats.top_intents is None:
        intent_section = Section(
            "Intentions les plus fréquentes",
            "h-intents",
            f"L’historique de Rasa (fichier {TRACKER_FILE} du dossier de données) "
            "est introuvable ou illisible : les intentions ne peuvent pas être comptées.",
            None,
            None,
        )
    else:
        intent_section = Section(
            "Intentions les plus fréquentes",
            "h-intents",
            "Ce que l’assistant a compris des messages des habitants (10 premières).",
            hbar_chart(
                "chart-intents",
                "Intentions les plus fréquentes",
                [(name, n, str(n)) for name, n in stats.top_intents],
            ),
            Table("Intentions les plus fréquentes", ["Intention", "Messages"], stats.top_intents),
        )
    article_rows = [(title or slug, n) for slug, title, n in stats.top_articles]
    article_section = Section(
        "Articles les plus utilisés dans les réponses",
        "h-articles",
        "Articles donnés comme réponse directe (10 premiers).",
        hbar_chart(
            "chart-articles",
            "Articles les plus utilisés dans les réponses",
            [(label, n, str(n)) for label, n in article_rows],
            color=PALETTE[1],
        ),
        Table("Articles les plus utilisés", ["Article", "Réponses"], article_rows),
    )
    kb_rows = [(CONFIDENCE_LABELS[k][0], stats.kb_questions.get(k, 0)) for k in CONFIDENCES]
    kb_section = Section(
        "Questions posées à la base de connaissances",
        "h-kb",
        "Les questions sans réponse sont listées dans « Questions sans réponse ».",
        hbar_chart(
            "chart-kb",
            "Questions posées à la base de connaissances",
            [(label, n, str(n)) for label, n in kb_rows],
        ),
        Table("Questions à la base de connaissances", ["Résultat", "Questions"], kb_rows),
    )
    event_section = Section(
        "Questions par moment de vie",
        "h-life-events",
        "Réponses de l’assistant qui ont donné les démarches d’un moment de vie, sur le "
        "chat et au téléphone (10 premiers dans le graphique).",
        hbar_chart(
            "chart-life-events",
            "Questions par moment de vie",
            [(tag, n, str(n)) for tag, n, _ in stats.life_events[:TOP]],
            color=PALETTE[2],
        ),
        Table(
            "Questions par moment de vie",
            ["Moment de vie", "Questions", "Dont au téléphone"],
            stats.life_events,
        ),
    )
    feedback_rows = [
        ("Utile", stats.feedback_useful),
        ("Pas utile", stats.feedback_total - stats.feedback_useful),
    ]
    feedback_section = Section(
        "Avis des habitants sur les réponses",
        "h-feedback",
        f"{fmt_percent(stats.feedback_ratio)} d’avis « utile » sur "
        f"{_count(stats.feedback_total, 'avis', 'avis')}.",
        hbar_chart(
            "chart-feedback",
            "Avis des habitants sur les réponses",
            [(label, n, str(n)) for label, n in feedback_rows],
            color=PALETTE[1],
        ),
        Table("Avis des habitants", ["Avis", "Nombre"], feedback_rows),
    )

    def share(part: int, rate: float | None) -> str:
        return f"{fmt_percent(rate)} ({part} sur {stats.conversations})"

    by_channel = ", ".join(f"{channel_label(c)} {stats.channel_totals[c]}" for c in stats.channels)
    summary = [
        (
            "Conversations",
            f"{stats.conversations}" + (f" ({by_channel})" if stats.channels else ""),
        ),
        (
            "Résolues sans agent",
            share(stats.conversations - stats.with_handoff, stats.containment_rate),
        ),
        ("Transmises à un agent", share(stats.with_handoff, stats.handoff_rate)),
        (
            "Attente avant prise en charge",
            f"médiane {fmt_duration(stats.wait_median_s)}, "
            f"90e centile {fmt_duration(stats.wait_p90_s)}",
        ),
        ("Demandes de rappel", f"{stats.tickets_opened} ouvertes, {stats.tickets_closed} closes"),
        (
            "Questions sans réponse",
            f"{stats.unanswered} sur "
            f"{_count(sum(stats.kb_questions.values()), 'question', 'questions')}",
        ),
        (
            "Avis « utile » des habitants",
            f"{fmt_percent(stats.feedback_ratio)} "
            f"({stats.feedback_useful} sur {stats.feedback_total})",
        ),
    ]
    return render_page(
        "stats.html",
        session=session,
        title="Statistiques",
        active="stats",
        days=days,
        first=f"{stats.days[0]:%d/%m/%Y}",
        last=f"{stats.days[-1]:%d/%m/%Y}",
        computed_at=stats.until,
        periods=ALLOWED_DAYS,
        summary=summary,
        daily=daily_chart(stats),
        daily_table=daily_table,
        sections=[
            handoff_section,
            wait_section,
            ticket_section,
            intent_section,
            article_section,
            kb_section,
            event_section,
            feedback_section,
        ],
    )


# --- handlers ---
def _days(request: web.Request) -> int:
    raw = request.query.get("days", "")
    return int(raw) if raw.isdigit() and int(raw) in ALLOWED_DAYS else DEFAULT_DAYS


async def _collect(request: web.Request) -> Stats:
    context = admin_context(request)
    return await collect(context.engine, context.data_dir / TRACKER_FILE, days=_days(request))


@require_role(Role.EDITOR, Role.AGENT, Role.ADMIN)
async def stats_page(request: web.Request) -> web.StreamResponse:
    stats = await _collect(request)
    return web.Response(text=stats_html(current_session(request), stats), content_type="text/html")


@require_role(Role.EDITOR, Role.AGENT, Role.ADMIN)
async def stats_csv(request: web.Request) -> web.StreamResponse:
    stats = await _collect(request)
    name = f"guichet-statistiques-{stats.until.astimezone(TIMEZONE):%Y-%m-%d}.csv"
    return web.Response(
        text=to_csv(stats),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
