"""``ctrlplane logs`` streams: a large log is written as it is read, never held whole.

The fake provider's own log store is a list (every record already in memory), which
would hide a CLI that collects records; so here the fake's instance answers ``logs``
with records made as they are read, the way a backend decodes them from the engine's
stream. Two services of 100,000 lines each are read through the real CLI entry point
into a sink that counts lines: the memory peak (tracemalloc) stays small, the first line
is written before the sources have produced more than their first records, and the
merged lines are in time order.
"""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_cli import Listing

from ctrlplane.cli.context import CliState
from ctrlplane.cli.main import main
from ctrlplane.provider import LogOptions, LogRecord, LogStream, Registry
from ctrlplane.testing import FakeProvider

pytestmark = pytest.mark.usefixtures("isolated_config")

LINES_PER_SERVICE = 100_000
SERVICES = ("web", "side")
PEAK_LIMIT = 8 * 1024 * 1024
"""Bytes: the records alone of one service's log would take ~30 times more."""

APP = """\
name: big
services:
  - name: web
    image: example/web:1
    command: ["sh", "-c", "sleep infinity"]
  - name: side
    role: sidecar
    image: example/side:1
    command: ["sh", "-c", "sleep infinity"]
"""

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class BigLogs(Listing):
    """The fake, whose ``logs`` makes ``LINES_PER_SERVICE`` records per service as they
    are read: service ``i`` of :data:`SERVICES` logs line ``n`` at ``T0 + (2n + i) ms``
    (so the time-ordered merge alternates), and the line text carries that sequence
    number."""

    def __init__(self, inner: FakeProvider) -> None:
        super().__init__(inner)
        self.produced = 0

    def logs(self, instance_id: str, opts: LogOptions | None = None) -> LogStream:
        options = opts or LogOptions()
        offset = SERVICES.index(options.service_name)

        async def records() -> AsyncIterator[LogRecord]:
            for n in range(LINES_PER_SERVICE):
                seq = 2 * n + offset
                self.produced += 1
                yield LogRecord(
                    time=T0 + timedelta(milliseconds=seq),
                    service=options.service_name,
                    line=f"line {seq}",
                )

        async def opener() -> AsyncIterator[LogRecord]:
            return records()

        return LogStream(opener)


class Sink:
    """A standard output that keeps nothing: counts lines, notes how many records the
    source had made when the first line came, and the sequence numbers' order."""

    def __init__(self, source: BigLogs) -> None:
        self.source = source
        self.lines = 0
        self.produced_at_first_line: int | None = None
        self.last_seq = -1
        self.in_order = True

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if self.produced_at_first_line is None:
                self.produced_at_first_line = self.source.produced
            self.lines += 1
            seq = int(line.rsplit(" ", 1)[1])
            self.in_order = self.in_order and seq > self.last_seq
            self.last_seq = seq
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _run(provider: BigLogs, *args: str) -> int:
    registry = Registry()
    registry.register("fake", provider)
    try:
        main(["--provider", "fake", *args], state=CliState(_registry=registry))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def big(fake: FakeProvider, tmp_path: Path) -> BigLogs:
    provider = BigLogs(fake)
    path = tmp_path / "app.yaml"
    path.write_text(APP)
    assert _run(provider, "-o", "json", "up", "-f", str(path)) == 0
    return provider


@pytest.mark.parametrize("follow", [False, True], ids=["merged", "follow"])
def test_a_large_log_is_streamed_in_bounded_memory(
    big: BigLogs, follow: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    sink = Sink(big)
    monkeypatch.setattr("sys.stdout", sink)
    tracemalloc.start()
    try:
        code = _run(big, "logs", "big", "--tail", "0", *(["--follow"] if follow else []))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    monkeypatch.undo()
    total = LINES_PER_SERVICE * len(SERVICES)
    assert code == 0, capsys.readouterr().err
    assert sink.lines == total
    assert big.produced == total
    print(f"logs of {total} lines ({'follow' if follow else 'merged'}): peak {peak / 1e6:.2f} MB")
    assert peak < PEAK_LIMIT, f"peak {peak / 1e6:.1f} MB"
    assert sink.produced_at_first_line is not None
    if follow:
        # As they come: at most the readers' queue ahead of what is written.
        assert sink.produced_at_first_line <= 64 + 2 * len(SERVICES)
    else:
        # Merged: one pending record per service when the first line is written...
        assert sink.produced_at_first_line == len(SERVICES)
        # ...and every line in time order across the two services.
        assert sink.in_order


class ClosedAfter(Sink):
    """A standard output whose reader goes away after ``lines`` lines (``| head``)."""

    def __init__(self, source: BigLogs, lines: int) -> None:
        super().__init__(source)
        self.limit = lines

    def write(self, text: str) -> int:
        if self.lines >= self.limit:
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")


def test_a_reader_that_goes_away_ends_the_command_quietly(
    big: BigLogs, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    sink = ClosedAfter(big, 10)
    monkeypatch.setattr("sys.stdout", sink)
    code = _run(big, "logs", "big")
    monkeypatch.undo()
    assert code == 0
    assert sink.lines == 10
    assert big.produced < 100  # reading stopped with the writing
    assert capsys.readouterr().err == ""
