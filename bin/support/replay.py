"""`bin/replay`: rerun failed jobs as new attempts.

By default each job resumes at the stage that failed (the generated code is reused, the
history kept); `--from-start` reruns every stage. Cancelled jobs are skipped unless
`--include-cancelled` (matched by a filter: skipped quietly; named by id: refused, exit 1).
`--dry-run` prints what would run, changes nothing, and exits as the real run would.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass

from tqdm import tqdm

from domain.capacity import Capacity
from domain.job import Job
from domain.messages import send_stage, sender_broker
from domain.redis_client import connect
from domain.settings import Settings
from domain.status import STAGES, Status
from domain.store import JobStore

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_since(text: str) -> float:
    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if not match:
        raise argparse.ArgumentTypeError("use a number and a unit, e.g. 30m, 2h, 1d")
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class Outcome:
    job_id: str
    ok: bool
    reason: str
    attempt: int | None = None


def select(store: JobStore, ids: list[str], all_failed: bool, since_s: float | None,
           project: str | None, user: str | None, stage: str | None) -> list[Job]:
    if ids:
        jobs = store.get_jobs(ids)
    elif all_failed or since_s is not None:
        low = store.clock.now() - since_s if since_s is not None else "-inf"
        jobs = store.get_jobs(store.redis.zrangebyscore(store.keys.failed(), low, "+inf"))
    else:
        return []
    return [j for j in jobs
            if (not project or j.project_id == project) and (not user or j.user_id == user)
            and (not stage or j.failed_stage == stage)]


def resume_stage(job: Job, from_start: bool) -> Status:
    if from_start or job.failed_stage not in {s.value for s in STAGES}:
        return Status.STARTING
    return Status(job.failed_stage)


_REASONS = {"ok": "queued", "not_failed": "not failed (already replayed or running)",
            "conflict": "another replay opened a new attempt first",
            "cancelled": "cancelled by its user (use --include-cancelled)",
            "missing": "no such job"}


def replay(store: JobStore, capacity: Capacity, jobs: list[Job], from_start: bool,
           include_cancelled: bool, progress: bool = False) -> tuple[list[Outcome], list]:
    """Reopen each job as a new attempt and queue it; returns outcomes and admitted jobs."""
    outcomes = []
    for job in tqdm(jobs, disable=not progress, unit="job", desc="replaying"):
        # One Lua call per job: two operators racing on it see one "ok" between them.
        status, attempt = store.reopen(job.job_id, job.attempt, resume_stage(job, from_start),
                                       include_cancelled)
        if status in ("ok", "not_failed"):
            # Idempotent (a waiting or running job is left alone); for "not_failed" it heals a
            # replay that died between reopening the job and queueing it.
            capacity.enqueue(job.job_id)
        outcomes.append(Outcome(job.job_id, status == "ok", _REASONS.get(status, status), attempt))
    return outcomes, capacity.admit()


def predict(job: Job, include_cancelled: bool) -> str:
    """What `reopen` would answer, without writing (for --dry-run)."""
    if job.status != Status.FAILED:
        return _REASONS["not_failed"]
    if job.cancelled and not include_cancelled:
        return _REASONS["cancelled"]
    return "ok"


def _table(jobs: list[Job], from_start: bool) -> str:
    rows = [("JOB", "USER", "FAILED STAGE", "RESUMES AT", "NEW ATTEMPT", "ERROR")]
    for j in jobs:
        rows.append((j.job_id, j.user_id, j.failed_stage or "-", resume_stage(j, from_start).value,
                     str(j.attempt + 1), (j.error_message or "")[:60]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bin/replay", description=__doc__.splitlines()[0])
    parser.add_argument("job_ids", nargs="*")
    parser.add_argument("--all-failed", action="store_true")
    parser.add_argument("--since", type=parse_since, help="failed within, e.g. 2h")
    parser.add_argument("--project")
    parser.add_argument("--user")
    parser.add_argument("--stage", choices=[s.value for s in STAGES])
    parser.add_argument("--from-start", action="store_true")
    parser.add_argument("--include-cancelled", action="store_true")
    parser.add_argument("--dry-run", action="store_true")
    return parser


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not (args.job_ids or args.all_failed or args.since):
        parser.error("name job ids, or --all-failed, or --since")
    settings = Settings.from_env()
    store = JobStore(connect(settings.redis_url), prefix=settings.redis_prefix)
    jobs = select(store, args.job_ids, args.all_failed, args.since, args.project, args.user,
                  args.stage)
    known = {j.job_id for j in store.get_jobs(args.job_ids)} if args.job_ids else set()
    failed = [Outcome(m, False, _REASONS["missing"]) for m in args.job_ids if m not in known]
    if not args.job_ids and not args.include_cancelled:
        # Matched by a filter, a cancelled job is skipped by policy (not an error); a job named
        # by id is refused below with its reason instead.
        for j in (j for j in jobs if j.cancelled):
            print(f"skip {j.job_id}: {_REASONS['cancelled']}")
        jobs = [j for j in jobs if not j.cancelled]
    if args.dry_run:  # reads only: the table of what would run, and what would not and why
        verdicts = {j.job_id: predict(j, args.include_cancelled) for j in jobs}
        runnable = [j for j in jobs if verdicts[j.job_id] == "ok"]
        print(_table(runnable, args.from_start) if runnable else "nothing to replay")
        failed += [Outcome(j.job_id, False, v) for j in jobs if (v := verdicts[j.job_id]) != "ok"]
        for o in failed:
            print(f"would not replay {o.job_id}: {o.reason}", file=sys.stderr)
        return 1 if failed else 0
    capacity = Capacity(store, global_cap=settings.global_sandbox_cap, queue_cap=settings.queue_cap)
    outcomes, admitted = replay(store, capacity, jobs, args.from_start, args.include_cancelled,
                                progress=len(jobs) > 5)
    broker = sender_broker(settings.redis_url, settings.broker_db)
    for job_id, attempt in admitted:
        send_stage(broker, Status.STARTING, job_id, attempt)
    failed += [o for o in outcomes if not o.ok]
    for o in outcomes:
        if o.ok:
            print(f"queued {o.job_id} as attempt {o.attempt}")
    for o in failed:
        print(f"could not replay {o.job_id}: {o.reason}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
