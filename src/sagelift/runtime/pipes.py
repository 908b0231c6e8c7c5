"""Pipe-mode input: a channel's records streamed into the FIFOs ``<channel>_<epoch>``.

SageMaker gives a Pipe-mode channel no directory: the job reads each epoch's data from a named
pipe, ``/opt/ml/input/data/<channel>_0`` for the first pass, ``<channel>_1`` for the next, and
so on for as many epochs as the job opens (``your-algorithms-training-algo-running-container``,
"Pipe mode"). Each epoch carries the channel's objects in order, decompressed for
``CompressionType=Gzip`` and, for ``RecordWrapperType=RecordIO``, each object (or augmented
manifest attribute) wrapped in one RecordIO record.

Here one :class:`ChannelFeeder` per channel does that from this machine: ``<channel>_0`` exists
before the job starts; ``<channel>_<n+1>`` is created as soon as the job has opened
``<channel>_<n>`` (the writer's open returns once a reader holds the FIFO), so a job that waits
for the next FIFO while reading the current one finds it; each epoch's FIFO is fed to its end,
then closed (the job reads end-of-file). A job that closes a FIFO early ends that epoch. The
records of each epoch come from a callable given by the caller, so where the bytes come from (a
local directory, S3) is not this module's business.

RecordIO, as SageMaker and MXNet frame it: a little-endian ``uint32`` magic ``0xced7230a``, a
``uint32`` whose low 29 bits are the payload length and whose top 3 bits are the continuation
flag (0: a whole record), the payload, then zero padding to a multiple of 4 bytes.

Stdlib only and Python 3.8-compatible: the launcher bundle carries it.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import logging
import os
import shutil
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, ContextManager, Iterable  # subscripted at run time

__all__ = [
    "RECORDIO_MAGIC",
    "ChannelFeeder",
    "PipeRecord",
    "fifo_path",
    "recordio_frame",
    "recordio_header",
]

log = logging.getLogger(__name__)

RECORDIO_MAGIC = 0xCED7230A
#: The length field has 29 bits; the top 3 are the continuation flag.
MAX_RECORD_BYTES = (1 << 29) - 1
CHUNK_BYTES = 1 << 20
POLL_SECONDS = 0.02

#: Opens one record's bytes (a file, a downloaded object) for reading.
Opener = Callable[[], ContextManager[IO[bytes]]]
#: Told what went wrong while feeding (the job's log shows it).
ErrorSink = Callable[[str], None]


@dataclass(frozen=True)
class PipeRecord:
    """One object of a channel (or one attribute of an augmented manifest line).

    ``gzipped``: the bytes are decompressed as they are streamed (``CompressionType=Gzip``).
    ``what`` names it in error messages.
    """

    open: Opener
    what: str
    gzipped: bool = False


def fifo_path(data_dir: Path, channel: str, epoch: int) -> Path:
    """Where epoch ``epoch`` of ``channel`` is read: ``<data_dir>/<channel>_<epoch>``."""
    return data_dir / f"{channel}_{epoch}"


def recordio_header(length: int) -> bytes:
    """The 8 header bytes of a whole RecordIO record of ``length`` payload bytes.

    Raises ValueError when the payload does not fit the 29-bit length field.
    """
    if not 0 <= length <= MAX_RECORD_BYTES:
        raise ValueError(f"a RecordIO record holds at most {MAX_RECORD_BYTES} bytes, not {length}")
    return struct.pack("<II", RECORDIO_MAGIC, length)


def recordio_frame(payload: bytes) -> bytes:
    """``payload`` as one RecordIO record: header, payload, zero padding to 4 bytes."""
    return recordio_header(len(payload)) + payload + b"\0" * (-len(payload) % 4)


class ChannelFeeder:
    """Feeds the FIFOs of one Pipe-mode channel, epoch after epoch, until :meth:`stop`.

    ``records`` is called once per epoch and yields that epoch's records in order.
    """

    def __init__(
        self,
        data_dir: Path,
        channel: str,
        records: Callable[[], Iterable[PipeRecord]],
        *,
        recordio: bool = False,
        on_error: ErrorSink | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.channel = channel
        self.records = records
        self.recordio = recordio
        self.on_error = on_error
        self.epochs_fed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def prepare(self) -> None:
        """Create ``<channel>_0`` (replacing what an earlier attempt left); no thread yet."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.data_dir.glob(f"{self.channel}_*"):
            if stale.name[len(self.channel) + 1 :].isdigit():
                stale.unlink()
        self._make_fifo(0)

    def start(self) -> None:
        """Feed from a daemon thread (``prepare`` first)."""
        self._thread = threading.Thread(target=self.run, name=f"pipe-{self.channel}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop feeding: a FIFO waiting for its reader is given up, a write to a reader that
        is gone ends with EPIPE."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """Feed epoch 0, 1, … until stopped."""
        epoch = 0
        while not self._stop.is_set():
            fd = self._open_writer(fifo_path(self.data_dir, self.channel, epoch))
            if fd is None:
                return
            try:
                self._make_fifo(epoch + 1)
                self._feed(fd, epoch)
            except Exception as exc:  # a feeder failure must not end the supervisor
                self._report(f"channel {self.channel}: epoch {epoch} could not be fed: {exc}")
            finally:
                os.close(fd)
            self.epochs_fed = epoch + 1
            epoch += 1

    def _make_fifo(self, epoch: int) -> None:
        path = fifo_path(self.data_dir, self.channel, epoch)
        if not path.exists():
            os.mkfifo(path, 0o644)

    def _open_writer(self, path: Path) -> int | None:
        """The FIFO opened for writing once the job opens it for reading; None when stopped.

        A non-blocking open fails with ENXIO while no reader holds the FIFO: polling it keeps
        this thread stoppable, where a blocking open would wait forever for a job that has
        ended."""
        while not self._stop.is_set():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno not in (errno.ENXIO, errno.ENOENT):
                    self._report(f"channel {self.channel}: cannot open {path}: {exc}")
                    return None
                time.sleep(POLL_SECONDS)
                continue
            os.set_blocking(fd, True)
            return fd
        return None

    def _feed(self, fd: int, epoch: int) -> None:
        out = os.fdopen(os.dup(fd), "wb", buffering=CHUNK_BYTES)
        try:
            for record in self.records():
                if self._stop.is_set():
                    return
                self._write_record(out, record)
            out.flush()
        except BrokenPipeError:
            log.info("channel %s: the job closed epoch %d before its end", self.channel, epoch)
        except ValueError as exc:
            self._report(f"channel {self.channel}: {exc}")
        finally:
            # The reader gone, what is left in the buffer has nowhere to go.
            with contextlib.suppress(OSError):
                out.close()

    def _write_record(self, out: IO[bytes], record: PipeRecord) -> None:
        with record.open() as raw:
            stream: IO[bytes] | gzip.GzipFile = raw
            if record.gzipped:
                stream = gzip.GzipFile(fileobj=raw, mode="rb")
            try:
                if self.recordio:
                    payload = stream.read()
                    try:
                        out.write(recordio_frame(payload))
                    except ValueError as exc:
                        raise ValueError(f"{record.what}: {exc}") from None
                else:
                    shutil.copyfileobj(stream, out, CHUNK_BYTES)
            except (OSError, EOFError, zlib.error) as exc:
                if isinstance(exc, BrokenPipeError):
                    raise
                raise ValueError(f"{record.what} could not be read: {exc}") from exc

    def _report(self, message: str) -> None:
        log.error("%s", message)
        if self.on_error is not None:
            self.on_error(message)
