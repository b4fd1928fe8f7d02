"""What the resources share: the wrapped request object, loading by uuid, one write, answers per identity."""

from __future__ import annotations

import falcon

from ..errors import unprocessable
from ..ids import UUID_RE
from ..listing import ListQuery
from ..wire import read_body_object


def read_object(req, singular: str) -> dict:
    """The request's `{"<singular>": {...}}` object ({} when absent); 422 when it is not an object."""
    body = read_body_object(req, singular)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise unprocessable(f"{singular}: must be an object")
    return body


def load_by_uuid(storage, model, uuid: str):
    """The row of `model` with this uuid, or None (also for anything that is not a uuid)."""
    if not UUID_RE.match(uuid):
        return None
    storage.connect()
    return model.get_or_none(model.uuid == uuid)


def write(storage, work, refusals: dict):
    """`work()` in one write transaction. `refusals` maps exception types (most specific first) to the API
    error each becomes; the transaction is rolled back, so a refused request writes nothing."""
    try:
        with storage.write():
            return work()
    except tuple(refusals) as error:
        answer = next(answer for kind, answer in refusals.items() if isinstance(error, kind))
        raise answer(error) from None


def unchanged_problems(body: dict, row, singular: str, attributes: tuple[str, ...]) -> list[str]:
    """422 messages for attributes an update accepts only with their current value (uuid, owner_uuid)."""
    return [
        f"{singular}.{attribute}: cannot be changed"
        for attribute in attributes
        if attribute in body and body[attribute] != getattr(row, attribute)
    ]


def list_page(select, query: ListQuery, order_columns: dict, conditions: list, newest_first):
    """One page of `select` under `conditions`, ordered as asked (else newest first), with its total count.

    `newest_first` is the default ordering, a tuple of SQL orderings; the table's id breaks ties so pages
    never overlap.
    """
    select = select.where(*conditions) if conditions else select
    ordering = [
        order_columns[attribute].desc() if descending else order_columns[attribute].asc()
        for attribute, descending in query.order
    ] or list(newest_first)
    model = select.model
    rows = list(select.order_by(*ordering, model.id.desc()).offset(query.offset).limit(query.limit))
    available = select.count() if query.count_exact else None
    return rows, available


def answer_once_per_identity(identity, resp, key: str, render) -> None:
    """Answer with JSON that depends on the caller's identity alone, rendered once per identity.

    A cached identity (tokens.cache_seconds) answers its second's worth of calls with the same bytes. That is
    as fresh as the identity itself: every write that could change what `render` reads (the token, its
    user) empties the token cache in every process (changes.py). If `render` raises, nothing is kept.
    """
    body = identity.derived.get(key)
    if body is None:
        body = resp.options.media_handlers[falcon.MEDIA_JSON].serialize(render(), falcon.MEDIA_JSON)
        identity.derived[key] = body
    resp.data = body
    resp.content_type = falcon.MEDIA_JSON
