"""`manage.py reprocess_imports`: operators run import jobs again (imports_app/reprocess.py)."""

from __future__ import annotations

import signal
import sys
from datetime import datetime, time, timedelta
from types import FrameType
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from imports_app import reprocess
from imports_app.models import STATUSES

HELP = """Reprocess import jobs as an operator. Select jobs with --job (repeatable), --user (id
or email, repeatable), --status (repeatable), --since/--until (created date; a date alone
covers that whole day), or --all; filters combine with AND. No scan is ever charged to the
user for a reprocessing.

Reprocessable: failed jobs (status error) and jobs whose run died (extracting/analyzing not
moving for MEDIQOM_IMPORT_STALE_SECONDS, or left by a killed reprocess_imports --inline).
They resume from the last finished stage: files already extracted are not read again (their
page images were dropped; the extracted text is kept encrypted until the job ends); with
--redo-analysis every document is analysed again from that stored text. Completed and
expired jobs cannot be reprocessed (the server holds no readable inputs for them); jobs
never processed (created) are left to the user's client. Each job's line says why.

Mode: with MEDIQOM_TASKS_BACKEND=database the jobs are enqueued as background tasks (run by
`manage.py db_worker`), claim and task row in one transaction; otherwise, or with --inline,
they run one by one in this process. Idempotent: a job already reprocessed with the same AI
configuration and options is skipped (--force runs failed ones again). Ctrl-C or SIGTERM
stops after the current job; a job cut off mid-run (second signal, SIGKILL) keeps its
finished stages and is resumed by the next run of this command."""


def _when(value: str, *, end: bool) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"Not a date or date-time: {value!r} (use YYYY-MM-DD or ISO 8601)")
        moment = datetime.combine(day + timedelta(days=1) if end else day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


class Command(BaseCommand):
    help = HELP

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--job", action="append", default=[], metavar="ID",
                            help="a job id (repeatable)")  # fmt: skip
        parser.add_argument("--user", action="append", default=[], metavar="ID_OR_EMAIL",
                            help="the jobs of a user, by id or email (repeatable)")  # fmt: skip
        parser.add_argument("--status", action="append", default=[], choices=STATUSES,
                            help="jobs in this status (repeatable)")  # fmt: skip
        parser.add_argument("--since", help="created at or after (YYYY-MM-DD or ISO 8601)")
        parser.add_argument("--until", help="created before (a date alone: up to its end)")
        parser.add_argument("--all", action="store_true", help="select every job")
        parser.add_argument("--dry-run", action="store_true",
                            help="list what would be reprocessed, change nothing")  # fmt: skip
        parser.add_argument("--inline", action="store_true", help="run in this process")
        parser.add_argument("--enqueue", action="store_true",
                            help="background tasks (needs the database backend)")  # fmt: skip
        parser.add_argument("--redo-analysis", action="store_true",
                            help="analyse every document again from its text")  # fmt: skip
        parser.add_argument("--force", action="store_true",
                            help="run failed jobs again even if done so before")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        job_ids = self._job_ids(options["job"])
        user_ids = self._user_ids(options["user"])
        since = _when(options["since"], end=False) if options["since"] else None
        until = _when(options["until"], end=True) if options["until"] else None
        if since and until and since >= until:
            raise CommandError("--since must be before --until")
        statuses: list[str] = options["status"]
        if not (job_ids or user_ids or statuses or since or until or options["all"]):
            raise CommandError(
                "Select jobs with --job, --user, --status, --since/--until, or pass --all"
            )
        mode = self._mode(inline=options["inline"], enqueue=options["enqueue"])
        key = reprocess.configuration_key(redo_analysis=options["redo_analysis"])
        selected = reprocess.select_jobs(
            job_ids=job_ids, user_ids=user_ids, statuses=statuses, since=since, until=until
        )
        for missing in sorted(set(job_ids) - set(selected), key=str):
            self.stdout.write(f"{missing}: not found")
        if not selected:
            self.stdout.write("no import jobs match")
            return
        dry: bool = options["dry_run"]
        self.stdout.write(
            f"{len(selected)} job(s) selected"
            + (" (dry run: nothing is changed)" if dry else f", mode {mode}; no scan is charged")
        )
        counts = {"reprocessed": 0, "queued": 0, "would reprocess": 0, "skipped": 0, "cannot": 0}
        with _Stopper(self) as stopper:
            for number, job_id in enumerate(selected, start=1):
                if stopper.stop:
                    self.stdout.write(f"stopped: {len(selected) - number + 1} job(s) not visited")
                    break
                outcome = self._one(job_id, key=key, mode=mode, dry=dry, options=options)
                counts[outcome] += 1
                self._progress(number, len(selected))
        self.stdout.write(", ".join(f"{name} {count}" for name, count in counts.items() if count))

    # ---------------------------------------------------------------- one job

    def _one(self, job_id: UUID, *, key: str, mode: str, dry: bool, options: Any) -> str:
        force, redo = bool(options["force"]), bool(options["redo_analysis"])
        if dry:
            decision = reprocess.inspect(job_id, key=key, force=force)
            return self._report(job_id, decision, "would reprocess")
        if mode == "task":
            with reprocess.job_lock(job_id) as free:
                decision, claim = reprocess.claim(
                    job_id, key=key, mode="task", force=force, redo_analysis=redo, lock_free=free
                )
            return self._report(job_id, decision, "queued" if claim else "")
        with reprocess.job_lock(job_id) as free:
            if not free:
                return self._report(
                    job_id, reprocess.Decision(reprocess.SKIP, "being reprocessed elsewhere"), ""
                )
            decision, claim = reprocess.claim(
                job_id, key=key, mode="inline", force=force, redo_analysis=redo, lock_free=True
            )
            if claim is None:
                return self._report(job_id, decision, "")
            self.stdout.write(f"{job_id}: reprocessing ({decision.reason})")
            status = reprocess.run_inline(claim)
        self.stdout.write(f"{job_id}: {status}")
        return "reprocessed"

    def _report(self, job_id: UUID, decision: reprocess.Decision, done: str) -> str:
        if decision.action == reprocess.REPROCESS:
            self.stdout.write(f"{job_id}: {done} ({decision.reason})")
            return done
        label = "skipped" if decision.action == reprocess.SKIP else "cannot"
        self.stdout.write(f"{job_id}: {label}: {decision.reason}")
        return label

    def _progress(self, number: int, total: int) -> None:
        width = 30
        filled = width * number // total
        bar = "#" * filled + "." * (width - filled)
        end = "\r" if self.stderr.isatty() and number < total else "\n"
        self.stderr.write(f"[{bar}] {number}/{total} jobs", ending=end)

    # ---------------------------------------------------------------- arguments

    def _job_ids(self, values: list[str]) -> list[UUID]:
        out = []
        for value in values:
            try:
                out.append(UUID(value))
            except ValueError:
                raise CommandError(f"Not a job id: {value!r}") from None
        return out

    def _user_ids(self, values: list[str]) -> list[UUID]:
        out: list[UUID] = []
        for value in values:
            found = reprocess.user_ids_for(value)
            if not found:
                raise CommandError(f"No user with the email {value!r}")
            out += found
        return out

    def _mode(self, *, inline: bool, enqueue: bool) -> str:
        if inline and enqueue:
            raise CommandError("Use --inline or --enqueue, not both")
        database = settings.MEDIQOM_TASKS_BACKEND == "database"
        if enqueue and not database:
            raise CommandError(
                "--enqueue needs MEDIQOM_TASKS_BACKEND=database: the "
                f"{settings.MEDIQOM_TASKS_BACKEND!r} backend runs tasks inside this process, "
                "which ends with the command (use --inline)"
            )
        return "task" if database and not inline else "inline"


class _Stopper:
    """SIGINT/SIGTERM: stop after the current job; a second one stops at once."""

    def __init__(self, command: BaseCommand) -> None:
        self.command = command
        self.stop = False
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _Stopper:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop:
            self.command.stderr.write("interrupted again: stopping now")
            sys.exit(130)
        self.stop = True
        self.command.stderr.write("interrupted: stopping after the current job")
