"""Pure: which offsets the router may commit, when batches are acknowledged out of order.

Every message read is pending until the output that accounts for it (a routed report,
maybe an update of a window that held it, or a dead letter) is acknowledged by the brokers.
A partition's committable offset is its first pending one: everything before it is done,
whatever order the acknowledgements came in. A partition read again from an earlier offset
(a rebalance reset it, or a rewind) starts afresh: acknowledgements of what was sent
before are kept apart by an epoch and no longer count.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["Offsets", "Partition", "Ticket"]

Partition = tuple[str, int]  # topic, partition
_epochs = itertools.count(1)


@dataclass
class _Progress:
    end: int  # the offset after the last one read
    epoch: int = field(default_factory=lambda: next(_epochs))
    pending: deque[int] = field(default_factory=deque)  # in the order read
    done: set[int] = field(default_factory=set)  # pending ones already acknowledged

    def position(self) -> int:
        """The first offset not done (the end, when all are)."""
        while self.pending and self.pending[0] in self.done:
            self.done.remove(self.pending.popleft())
        return self.pending[0] if self.pending else self.end


@dataclass(frozen=True)
class Ticket:
    """The offsets an output accounts for, per partition and epoch: done once it is acked."""

    marks: tuple[tuple[Partition, int, tuple[int, ...]], ...]


@dataclass
class Offsets:
    """Per partition: what was read, what is done, and what was last committed."""

    partitions: dict[Partition, _Progress] = field(default_factory=dict)
    committed: dict[Partition, int] = field(default_factory=dict)

    def goes_back(self, partition: Partition, offset: int) -> bool:
        """Whether reading `offset` next goes back before what was read already: the
        partition was reset underneath (a rebalance), and must be read afresh."""
        progress = self.partitions.get(partition)
        return progress is not None and offset < progress.end

    def read(self, partition: Partition, offsets: Sequence[int]) -> None:
        """Offsets just read from a partition, in order (none going back), now pending."""
        progress = self.partitions.get(partition)
        if progress is None:
            progress = self.partitions[partition] = _Progress(end=offsets[0])
        progress.pending.extend(offsets)
        progress.end = offsets[-1] + 1

    def ticket(self, positions: Iterable[tuple[str, int, int]]) -> Ticket:
        """A ticket for outputs accounting for these (topic, partition, offset) positions."""
        by_partition: dict[Partition, list[int]] = {}
        for topic, partition, offset in positions:
            by_partition.setdefault((topic, partition), []).append(offset)
        return Ticket(
            tuple(
                (p, self.partitions[p].epoch, tuple(offsets))
                for p, offsets in by_partition.items()
                if p in self.partitions
            )
        )

    def settle(self, ticket: Ticket) -> None:
        """The ticket's outputs are acknowledged: its offsets are done (if still current)."""
        for partition, epoch, offsets in ticket.marks:
            progress = self.partitions.get(partition)
            if progress is not None and progress.epoch == epoch:
                progress.done.update(offsets)

    def positions(self) -> dict[Partition, int]:
        """Each partition's first offset not done: where to read again after a rewind."""
        return {p: progress.position() for p, progress in self.partitions.items()}

    def to_commit(self) -> dict[Partition, int]:
        """Positions that moved past the last commit (commit them, then `mark_committed`)."""
        return {p: at for p, at in self.positions().items() if at > self.committed.get(p, -1)}

    def mark_committed(self, positions: dict[Partition, int]) -> None:
        self.committed.update(positions)

    def reset(self) -> None:
        """Forget every partition: what comes next is read afresh."""
        self.partitions.clear()
        self.committed.clear()
