"""The daemon's life cycle: prepare every subsystem, run them on one loop, stop cleanly.

A background task that dies takes the whole process down with a non-zero exit code, so that the
service manager restarts the cabinet rather than leaving it half-alive. SIGTERM and SIGINT stop the
daemon: subsystems are cancelled, then cleaned up in the reverse order of preparation (the badge
reader stops before the locks are commanded locked, which happens before the ledger closes).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Sequence

from cabinetd.lifecycle import SetupError, Subsystem
from cabinetd.sdnotify import Notifier, watchdog_interval_s

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1


class Daemon:
    def __init__(
        self,
        subsystems: Sequence[Subsystem],
        *,
        notifier: Notifier | None = None,
        shutdown_s: float = 5.0,
        ready_status: str = "ready",
    ) -> None:
        self.subsystems = list(subsystems)
        self.notifier = notifier or Notifier()
        self.shutdown_s = shutdown_s
        self.ready_status = ready_status
        self.started_at = time.monotonic()
        self._stop = asyncio.Event()
        self._prepared: list[Subsystem] = []

    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            log.info("stopping: %s", reason)
            self._stop.set()

    def stalled(self) -> list[str]:
        now = time.monotonic()
        return [part.name for part in self.subsystems if part.stalled(now)]

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop, signal.Signals(signum).name)
        try:
            return await self._run()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            self.notifier.close()

    async def _run(self) -> int:
        try:
            for part in self.subsystems:
                self.notifier.status(f"preparing {part.name}")
                self._prepared.append(part)
                await part.prepare()
        except SetupError as cannot:
            # The part said what is missing and where in config; a traceback would only bury that.
            log.error("cannot prepare %s: %s", self._prepared[-1].name, cannot)
            await self._cleanup()
            return EXIT_FAILED
        except Exception:
            log.exception("cannot prepare %s", self._prepared[-1].name)
            await self._cleanup()
            return EXIT_FAILED

        tasks = {asyncio.create_task(part.run(), name=part.name): part for part in self.subsystems}
        watchdog = asyncio.create_task(self._watchdog(), name="watchdog")
        stop = asyncio.create_task(self._stop.wait(), name="stop")
        self.notifier.ready(self.ready_status)
        log.info("ready: %s", self.ready_status)

        exit_code = EXIT_OK
        pending: set[asyncio.Task[None] | asyncio.Task[bool]] = {*tasks, stop}
        while not self._stop.is_set():
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is stop or task.cancelled():
                    continue
                error = task.exception()
                if error is not None:
                    log.error("%s died: %r", task.get_name(), error, exc_info=error)
                    exit_code = EXIT_FAILED
                    self.request_stop(f"{task.get_name()} died")

        self.notifier.stopping()
        watchdog.cancel()
        for task in pending:
            task.cancel()
        try:
            async with asyncio.timeout(self.shutdown_s):
                await asyncio.gather(*pending, watchdog, return_exceptions=True)
                await self._cleanup()
        except TimeoutError:
            log.error("shutdown took longer than %.1f s; exiting anyway", self.shutdown_s)
            return EXIT_FAILED
        return exit_code

    async def _cleanup(self) -> None:
        while self._prepared:
            part = self._prepared.pop()
            try:
                await part.cleanup()
            except Exception:
                # Keep going: the locks must still be commanded locked and the ledger closed.
                log.exception("cleanup of %s failed", part.name)

    async def _watchdog(self) -> None:
        interval = watchdog_interval_s()
        if interval is None:
            return
        reported: list[str] = []
        while True:
            stalled = self.stalled()
            if not stalled:
                self.notifier.watchdog()
            elif stalled != reported:
                # No ping: the service manager will kill and restart us once the period runs out.
                log.error("not pinging the watchdog: stalled %s", ", ".join(stalled))
                self.notifier.status(f"stalled: {', '.join(stalled)}")
            reported = stalled
            await asyncio.sleep(interval)

