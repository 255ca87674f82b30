"""Webhooks over HTTP: POST each task_completed payload to the project's webhook URL.

As PYBOSSA: a JSON POST of the payload, `rerun=True` in the query of a re-send. Beyond it: an
`X-Crowdnest-Signature: sha256=<HMAC-SHA256 of the body, keyed with the project's secret key>`
header, retries with a doubling backoff, one `webhook_delivery` row per delivery (shown on
/project/<short_name>/webhook) and no delivery to loopback or private addresses unless
`webhooks.allow_private` is on. Delivery runs as background jobs (core/jobs.py), after the
commit, so a slow or broken receiver never holds up a volunteer.
"""

import json
import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core import jobs
from core.db import utcnow
from core.hookspecs import hookimpl
from core.models import Project, WebhookDelivery
from core.models.webhook_delivery import DELIVERED, FAILED, PENDING, RETRYING
from plugins.webhooks import transport

log = logging.getLogger(__name__)

# Statuses worth trying again: the receiver is down, overloaded or timed out.
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
USER_AGENT = "Crowdnest-Webhooks"


class DeliveryFailed(Exception):
    """This attempt failed and another is due: raised so that the job queue retries."""


def retry_policy(settings) -> jobs.Retry | None:
    """webhooks.attempts tries, waiting webhooks.backoff seconds, then twice as long each time."""
    retries = settings["webhooks.attempts"] - 1
    if retries < 1:
        return None
    return jobs.Retry(
        max=retries, interval=[settings["webhooks.backoff"] * 2**n for n in range(retries)]
    )


# --- hooks -------------------------------------------------------------------------------------


@hookimpl
def crowdnest_settings():
    # The deliveries' queue, attempts (the backoff doubles from `backoff` seconds), the HTTP
    # timeout, and whether a URL may point at loopback or private addresses (tests only).
    return {
        "webhooks.queue": ("high", str),
        "webhooks.attempts": (5, int),
        "webhooks.backoff": (1, int),
        "webhooks.timeout": (10, int),
        "webhooks.allow_private": (False, bool),
    }


@hookimpl
def crowdnest_includeme(config):
    # The webhook page (core/web/webhooks.py) re-sends through the enabled delivery plugin.
    config.registry["webhooks.redeliver"] = redeliver


@hookimpl
def crowdnest_task_completed(project, payload, settings):
    if not project.webhook:
        return
    jobs.enqueue(settings, record, project.id, payload, queue=settings["webhooks.queue"])


# --- jobs --------------------------------------------------------------------------------------


def record(settings, project_id: int, payload: dict) -> None:
    """Job: log a delivery of `payload` to the project's webhook URL, then send it."""
    with jobs.database(settings) as db:
        project = db.get(Project, project_id)
        if project is None or not project.webhook:
            return
        delivery = new_delivery(db, project, payload, rerun=False)
    send_later(settings, delivery.id)


def attempt(settings, delivery_id: int) -> None:
    """Job: one attempt at a delivery, logged; raises DeliveryFailed when another is due."""
    with jobs.database(settings) as db:
        delivery = db.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status in (DELIVERED, FAILED):
            return  # deleted with its project, or settled by an earlier run of this job
        project = db.get(Project, delivery.project_id)
        if project is None:
            return
        url = rerun_url(delivery.url) if delivery.rerun else delivery.url
        body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/plain",
            "User-Agent": USER_AGENT,
            "X-Crowdnest-Event": delivery.event,
            "X-Crowdnest-Delivery": str(delivery.id),
            transport.SIGNATURE_HEADER: transport.signature(body, project.secret_key or ""),
        }
    # No transaction is held while the receiver takes its time.
    answer, error, retryable = None, None, False
    try:
        answer = transport.post(
            url,
            body,
            headers,
            timeout=settings["webhooks.timeout"],
            allow_private=settings["webhooks.allow_private"],
        )
    except transport.Refused as refusal:
        error = f"Refused: {refusal}"
    except OSError as failure:
        error, retryable = f"Connection Error: {failure}", True
    if answer is not None and not 200 <= answer.status_code < 300:
        error = f"HTTP {answer.status_code}"
        retryable = answer.status_code in RETRY_STATUSES
    with jobs.database(settings) as db:
        delivery = db.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return
        delivery.attempts += 1
        delivery.last_attempt = utcnow()
        delivery.status_code = answer.status_code if answer else None
        delivery.response = answer.excerpt if answer else None
        delivery.last_error = error
        again = error is not None and retryable
        again = again and delivery.attempts < settings["webhooks.attempts"]
        delivery.status = DELIVERED if error is None else (RETRYING if again else FAILED)
        attempts = delivery.attempts
    if error is not None:
        log.info("webhook delivery %s attempt %s: %s", delivery_id, attempts, error)
    if again:
        raise DeliveryFailed(f"webhook delivery {delivery_id}: {error}")


# --- helpers -----------------------------------------------------------------------------------


def new_delivery(db, project: Project, payload: dict, rerun: bool) -> WebhookDelivery:
    delivery = WebhookDelivery(
        project_id=project.id,
        event=payload.get("event", "task_completed"),
        url=project.webhook,
        payload=payload,
        rerun=rerun,
        status=PENDING,
        attempts=0,
    )
    db.add(delivery)
    db.flush()
    return delivery


def send_later(request_or_settings, delivery_id: int) -> None:
    registry = getattr(request_or_settings, "registry", None)
    settings = registry.settings if registry is not None else request_or_settings
    jobs.enqueue(
        request_or_settings,
        attempt,
        delivery_id,
        queue=settings["webhooks.queue"],
        retry=retry_policy(settings),
    )


def redeliver(request, delivery: WebhookDelivery) -> WebhookDelivery | None:
    """A new delivery of the same payload to the project's current URL, sent after the commit.

    None when the project has no webhook URL any more.
    """
    db = request.dbsession
    project = db.get(Project, delivery.project_id)
    if not project.webhook:
        return None
    again = new_delivery(db, project, delivery.payload, rerun=True)
    send_later(request, again.id)
    return again


def rerun_url(url: str) -> str:
    """The URL with PYBOSSA's `rerun=True` query parameter."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("rerun", "True")]
    return urlunsplit(parts._replace(query=urlencode(query)))
