"""Steady readings from flickering per-frame guesses.

A camera frame differs from the last by noise, a hand moving, a change of focus; a digit
that is read correctly in most frames can still be misread in one. The stabilizer keeps
the last ``window`` per-frame readings and changes what it reports only when a new
reading wins ``min_votes`` of them, so one odd frame never reaches the user, while a
real change shows after ``min_votes`` frames (a fraction of a second at camera rates).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from cnnedge.errors import ArgumentError

__all__ = ["Stabilizer", "StabilizerConfig", "StableReading"]


@dataclass(frozen=True)
class StabilizerConfig:
    """How readings are smoothed.

    ``window``: frames voted over (1 turns smoothing off). ``min_votes``: votes a reading
    needs to be reported (default: a majority of the window). ``min_confidence``: frames
    read with less confidence vote for "no reading".
    """

    window: int = 5
    min_votes: int | None = None
    min_confidence: float = 0.0

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ArgumentError(f"window must be at least 1 frame, got {self.window}")
        if self.min_votes is not None and not 1 <= self.min_votes <= self.window:
            raise ArgumentError(
                f"min_votes must be between 1 and the window ({self.window}), got {self.min_votes}"
            )
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ArgumentError(
                f"min_confidence must be between 0 and 1, got {self.min_confidence}"
            )

    @property
    def votes_needed(self) -> int:
        return self.min_votes if self.min_votes is not None else self.window // 2 + 1


@dataclass(frozen=True)
class StableReading:
    """The reported reading after a frame: ``text`` (None: no reading) and whether it changed.

    ``confidence`` is the mean confidence of the frames that voted for it (0 for None).
    ``established`` is False until a first reading has won a vote.
    """

    text: str | None
    confidence: float
    changed: bool
    established: bool


class Stabilizer:
    """Majority vote over the last few per-frame readings."""

    def __init__(self, config: StabilizerConfig | None = None) -> None:
        self.config = config or StabilizerConfig()
        self._votes: deque[tuple[str | None, float]] = deque(maxlen=self.config.window)
        self._current: str | None = None
        self._established = False

    @property
    def current(self) -> str | None:
        return self._current

    def reset(self) -> None:
        self._votes.clear()
        self._current = None
        self._established = False

    def update(self, text: str | None, confidence: float) -> StableReading:
        """Add one frame's reading (None: nothing read) and return the reported one."""
        if text is not None and confidence < self.config.min_confidence:
            text = None
        self._votes.append((text, float(confidence)))
        counts = Counter(t for t, _ in self._votes)
        needed = self.config.votes_needed
        winners = [t for t, n in counts.items() if n >= needed]
        changed = False
        if winners:
            # With a minority threshold several readings can qualify; the current one
            # keeps its place (no flicker between two), else the most voted wins, ties
            # going to the most recent.
            if self._current in winners and self._established:
                winner = self._current
            else:
                order = {t: i for i, (t, _) in enumerate(self._votes)}
                winner = max(winners, key=lambda t: (counts[t], order[t]))
            changed = not self._established or winner != self._current
            self._current, self._established = winner, True
        confidence_out = 0.0
        if self._current is not None:
            agreeing = [c for t, c in self._votes if t == self._current]
            confidence_out = sum(agreeing) / len(agreeing) if agreeing else 0.0
        return StableReading(self._current, confidence_out, changed, self._established)
