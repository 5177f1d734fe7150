"""Celery task messages for the Redis transport, built here instead of by ``send_task``.

Why: the receiver's hot path. ``send_task`` costs a thread hop, Python-heavy kombu machinery
and two Redis round trips (binding lookup, LPUSH) per delivery. Building the same protocol-2
message ourselves lets the dedup claim, the submission record and the LPUSH happen in one
atomic Redis script (bot.service.deliveries.AtomicEnqueue): one round trip, and no window in
which a delivery is claimed but its job is not on the broker.

The message is exactly what Celery 5 + kombu put on the list for
``send_task(name, args=[job], queue=q, task_id=id, ignore_result=True)`` (the tests compare
the two and have a real worker consume ours). Pure: no I/O.
"""
from __future__ import annotations

import base64
import json
import os
import socket
import uuid
from typing import Any

#: Celery truncates argsrepr (shown by monitoring tools) at this size.
ARGSREPR_MAX = 1024
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def origin() -> str:
    """The publisher's name as Celery writes it (``gen<pid>@<host>``)."""
    return f"gen{os.getpid()}@{socket.gethostname()}"


def task_message(task: str, queue: str, job: dict[str, Any], task_id: str, sender: str) -> str:
    """The JSON text kombu's Redis transport LPUSHes onto list ``queue`` for this task."""
    args = [job]
    body = json.dumps([args, {}, _EMBED]).encode()
    headers = {
        "lang": "py", "task": task, "id": task_id, "shadow": None, "eta": None, "expires": None,
        "group": None, "group_index": None, "retries": 0, "timelimit": [None, None],
        "root_id": task_id, "parent_id": None, "argsrepr": repr(args)[:ARGSREPR_MAX],
        "kwargsrepr": "{}", "origin": sender, "ignore_result": True, "replaced_task_nesting": 0,
        "stamped_headers": None, "stamps": {},
    }
    properties = {
        "correlation_id": task_id, "reply_to": "", "delivery_mode": 2,
        # The default (anonymous) exchange: the routing key is the destination list.
        "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
        "body_encoding": "base64", "delivery_tag": str(uuid.uuid4()),
    }
    return json.dumps({"body": base64.b64encode(body).decode(), "content-encoding": "utf-8",
                       "content-type": "application/json", "headers": headers,
                       "properties": properties})
