"""The console's own writes: what only its pages do (the arena's left / right, in the order it
showed the answers). Every other change a page makes is a call to the owning app's service
(tenants, keys, versions, training runs), which writes its audit row in the same transaction."""
from __future__ import annotations

from feedback.duels import duel_label, duel_skip


class ConsoleError(ValueError):
    """A change the console refuses, with a message for the person who asked."""


def arena_label(*, duel_id: int, choice: str, actor, swapped: bool = False):
    """A person's arena verdict: 'left', 'right', 'tie' or 'skip'. The arena shows a duel's answers
    in an order of its own (`swapped`: model b on the left) so that people's position bias averages out."""
    if choice == "skip":
        return duel_skip(duel_id=duel_id)
    if choice not in ("left", "right", "tie"):
        raise ConsoleError("Choose left, right, tie or skip.")
    winner = "tie" if choice == "tie" else ("model_a" if (choice == "left") != swapped else "model_b")
    return duel_label(duel_id=duel_id, winner=winner, labelled_by=f"user:{actor.get_username()}")
