"""The base Task of both Celery apps: poison messages out of the queue, and a running task's
broker lease renewed.

Poison messages. Tasks are acknowledged late, so a message whose task kills its worker (the
out-of-memory killer, a segfault, SIGKILL) is handed to the next worker, which dies too. A dead
worker cannot count its own death, so each delivery is counted when it starts (INCR of
``iacbot:deliveries:<task id>``, with a TTL) and the count is cleared when it ends, whether it
succeeded, failed or asked for a retry. What is left counts the deliveries that never ended: the
worker died under them. At ``MAX_DELIVERIES`` of those, the next delivery does not run the task:
it is written to the ``iacbot:dead-letters`` stream (task, id, arguments, deliveries, reason),
logged, and rejected without requeue, and the workers go on with the rest of the queue.

Unsent retries. Celery's ``Task.retry`` sends the retry as a new message and, when the broker
does not take it (Redis down, full or refusing the write), raises ``Reject(requeue=False)``: the
worker then acknowledges the message, and the task is gone as soon as the broker can take that
acknowledgement. Here such a retry becomes ``Reject(requeue=True)`` instead, once the broker
answers again (waited for up to half the visibility timeout): the message goes back to its queue
and runs again, and if the broker still cannot take even that, it stays unacknowledged and the
transport hands it out again after the visibility timeout. The task is never acknowledged.

Lease renewal. The Redis transport hands a message to another worker when it has been unacked
for the visibility timeout. While a task runs, a thread moves its entry in the transport's
``unacked_index`` forward every third of that timeout, so a long task is never handed out twice
while its worker lives, and a dead worker's task comes back one visibility timeout after it died.

This module needs only the standard library, redis and celery: both environments import it
(the main one as ``scanner.iacbot_scanner.delivery_guard``), so there is one definition of it.
"""
from __future__ import annotations

import enum
import json
import logging
import threading
import time
from typing import Any

import redis
from celery import Task
from celery.exceptions import Reject

from .redis_clients import task_redis

log = logging.getLogger(__name__)

DELIVERIES_PREFIX = "iacbot:deliveries:"   # string: deliveries of a task id that started and never ended
DEAD_LETTERS_KEY = "iacbot:dead-letters"   # stream: one entry per message taken out of the queue
#: A message whose task killed its worker this many times is not run again.
MAX_DELIVERIES = 3
#: Long enough to outlive any wait for a redelivery; bounded so that ids are forgotten.
DELIVERIES_TTL_SECONDS = 7 * 24 * 3600
DEAD_LETTERS_MAXLEN = 10_000
ARGUMENTS_SHOWN = 2000   # characters of a task's arguments kept in its dead-letter record
#: The transport's sorted set of unacked delivery tags (kombu's default key).
UNACKED_INDEX_KEY = "unacked_index"
#: What restores a dead worker's tasks: scan for expired leases every this many seconds.
RESTORE_OPTIONS = {"unacked_restore_interval": 10, "unacked_restore_throttle": 1}


class DeadLetterReason(str, enum.Enum):
    #: Started MAX_DELIVERIES times, never ended: its worker died each time (OOM kill, segfault, SIGKILL).
    WORKER_LOST = "worker lost"


def poisoned(deliveries: int, max_deliveries: int = MAX_DELIVERIES) -> bool:
    """Whether a delivery that is the ``deliveries``-th unfinished start may not run (pure)."""
    return deliveries > max_deliveries


class GuardedTask(Task):
    """Set as ``task_cls`` of both Celery apps: every task is counted, renewed and, when it keeps
    killing its workers, dead-lettered."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        if request.called_directly or request.is_eager or not request.id:
            return super().__call__(*args, **kwargs)
        r = task_redis(self.app.conf.broker_url)
        key = DELIVERIES_PREFIX + request.id
        pipe = r.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, DELIVERIES_TTL_SECONDS)
        deliveries = int(pipe.execute()[0])
        if poisoned(deliveries):
            self._dead_letter(r, deliveries - 1, args, kwargs)
        lease = _Lease(r, (request.properties or {}).get("delivery_tag"),
                       float(self.app.conf.broker_transport_options.get("visibility_timeout", 3600)))
        try:
            result = super().__call__(*args, **kwargs)
        except MemoryError:
            raise  # Celery stops the worker for it: it counts as a death
        except Exception:
            _forget(r, key)
            raise
        finally:
            lease.stop()
        _forget(r, key)
        return result

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        """Celery's retry, except that a retry the broker did not take puts the message back in its
        queue instead of acknowledging it (see the module's docstring)."""
        try:
            return super().retry(*args, **kwargs)
        except Reject as unsent:
            if unsent.requeue:
                raise
            # Only Task.retry's failed send raises a Reject here.
            reason = unsent.reason
            log.warning("%s[%s]: its retry could not be sent (%s); the message goes back to its queue "
                        "instead of being acknowledged", self.name, self.request.id, type(reason).__name__)
            self._await_broker()
            raise Reject(reason, requeue=True) from None

    def _await_broker(self) -> None:
        """Until the broker takes a connection again, for at most half the visibility timeout: a
        requeue sent sooner would fail as well (the message would then wait out the visibility
        timeout), and a worker has nothing else to do while its broker is down."""
        visibility = float(self.app.conf.broker_transport_options.get("visibility_timeout", 3600))
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=None, interval_start=0.2, interval_step=0.5,
                                             interval_max=2, timeout=visibility / 2)
        except Exception as exc:  # the requeue will fail too; the visibility timeout brings the message back
            log.warning("the broker is still unreachable (%s)", type(exc).__name__)

    def _dead_letter(self, r: redis.Redis, deaths: int, args: tuple, kwargs: dict) -> None:
        request = self.request
        reason = DeadLetterReason.WORKER_LOST
        arguments = json.dumps({"args": list(args), "kwargs": kwargs}, default=str)[:ARGUMENTS_SHOWN]
        r.xadd(DEAD_LETTERS_KEY, {"task": self.name, "task_id": request.id, "arguments": arguments,
                                  "deliveries": deaths + 1, "reason": reason.value,
                                  "queue": str((request.delivery_info or {}).get("routing_key")),
                                  "at": f"{time.time():.3f}"},
               maxlen=DEAD_LETTERS_MAXLEN, approximate=True)
        r.delete(DELIVERIES_PREFIX + request.id)
        message = (f"{self.name}[{request.id}]: taken out of the queue ({reason.value}: its worker died "
                   f"under it {deaths} times); recorded in {DEAD_LETTERS_KEY}")
        log.error(message)
        raise Reject(message, requeue=False)


def _forget(r: redis.Redis, key: str) -> None:
    """Clear a delivery's count; a Redis outage must not replace the task's own outcome (a Reject
    that keeps the message would become a failure, which is acknowledged)."""
    try:
        r.delete(key)
    except redis.RedisError as exc:  # the count stays: one outage counts as one unended delivery
        log.warning("could not clear the delivery count %s: %s", key, type(exc).__name__)


class _Lease:
    """Keeps a running task's delivery from being handed to another worker while this one lives."""

    def __init__(self, r: redis.Redis, delivery_tag: str | None, visibility_timeout: float) -> None:
        self._stopped = threading.Event()
        if not delivery_tag:
            return
        self._thread = threading.Thread(target=self._renew, args=(r, delivery_tag, visibility_timeout / 3),
                                        name="iacbot-lease", daemon=True)
        self._thread.start()

    def _renew(self, r: redis.Redis, delivery_tag: str, interval: float) -> None:
        while not self._stopped.wait(interval):
            try:
                # XX: only an entry still there (an acked message is gone and stays gone).
                r.zadd(UNACKED_INDEX_KEY, {delivery_tag: time.time()}, xx=True)
            except redis.RedisError as exc:
                log.warning("could not renew the broker lease of a running task: %s", type(exc).__name__)

    def stop(self) -> None:
        self._stopped.set()
