"""The transition table, cell by cell."""

from __future__ import annotations

import itertools

import pytest

from glimpse.errors import InvalidTransition
from glimpse.model import TRANSITIONS, Status, check_transition

S = Status
ALLOWED = {
    (S.QUEUED, S.SAVING), (S.QUEUED, S.UPLOADING), (S.QUEUED, S.IMPORTING),
    (S.QUEUED, S.ACTIVE), (S.QUEUED, S.DELETED),
    (S.SAVING, S.ACTIVE), (S.SAVING, S.KILLED), (S.SAVING, S.DELETED), (S.SAVING, S.QUEUED),
    (S.UPLOADING, S.IMPORTING), (S.UPLOADING, S.QUEUED), (S.UPLOADING, S.DELETED),
    (S.IMPORTING, S.ACTIVE), (S.IMPORTING, S.DELETED), (S.IMPORTING, S.QUEUED),
    (S.ACTIVE, S.PENDING_DELETE), (S.ACTIVE, S.DELETED), (S.ACTIVE, S.DEACTIVATED),
    (S.KILLED, S.DELETED),
    (S.PENDING_DELETE, S.DELETED), (S.PENDING_DELETE, S.ACTIVE),
    (S.DEACTIVATED, S.ACTIVE), (S.DEACTIVATED, S.DELETED),
}  # fmt: skip


@pytest.mark.parametrize(("current", "target"), list(itertools.product(Status, Status)))
def test_transition_table(current: Status, target: Status) -> None:
    if (current, target) in ALLOWED:
        check_transition(current, target)
    else:
        with pytest.raises(InvalidTransition):
            check_transition(current, target)


def test_table_covers_every_status() -> None:
    assert set(TRANSITIONS) == set(Status)
    assert TRANSITIONS[S.DELETED] == frozenset()
