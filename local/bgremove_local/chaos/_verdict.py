"""The verdict: every upload's events judged against what it must produce, and the run's report.

The counts (lost, duplicated, wrong, ...) are defined in :mod:`bgremove_local.chaos`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from bgremove_local.chaos._collector import Collector
from bgremove_local.chaos._config import INDISTINGUISHABLE_WITHIN_S, SUPERSEDED_CODES, ChaosConfig
from bgremove_local.chaos._faults import FaultInjector
from bgremove_local.chaos._workload import Upload
from bgremove_local.runner import Pipeline


@dataclass
class ChaosResult:
    """The counts of a run (see the module's docstring) and its report."""

    uploads: int
    terminal: int
    lost: int
    duplicated: int
    wrong: int
    dlq: int
    report: list[str]
    mismatches: list[str]
    faults: dict[str, int] = field(default_factory=dict)
    """Faults injected, by kind (``aws error s3.GetObject``, ``crash inference``, ...)."""
    workload: dict[str, int] = field(default_factory=dict)
    """Uploads by kind, and ``overwrites``, ``identical overwrites``, ``versioned``."""
    verdicts: dict[str, int] = field(default_factory=dict)
    """Uploads by verdict: ``own``, ``superseded``, ``indistinguishable``, ``wrong``, ``in the DLQ``."""
    crashes: int = 0

    @property
    def ok(self) -> bool:
        return self.lost == self.duplicated == self.wrong == 0

    def summary(self) -> str:
        return (
            f"chaos: uploads={self.uploads} terminal={self.terminal} lost={self.lost} "
            f"duplicated={self.duplicated} wrong={self.wrong} dlq={self.dlq}"
        )


def _differences(expected: Upload, event: dict[str, Any], output_bucket: str) -> list[str]:
    """How ``event``'s payload differs from what ``expected``'s upload must produce (nothing: it matches)."""
    problems = []
    if event.get("job_id") != expected.job_id:
        problems.append(f"job id {event.get('job_id')!r}, expected {expected.job_id!r}")
    error = event.get("error") or {}
    if expected.expected_code is not None:
        if event.get("status") != "FAILED" or error.get("code") != expected.expected_code:
            problems.append(
                f"{event.get('status')} {error.get('code')}, expected FAILED {expected.expected_code}"
            )
        elif expected.expected_option and error.get("option") != expected.expected_option:
            problems.append(f"option {error.get('option')!r}, expected {expected.expected_option!r}")
        return problems
    if event.get("status") != "COMPLETED":
        problems.append(
            f"{event.get('status')} {error.get('code')}: {error.get('message')}, expected COMPLETED"
        )
        return problems
    output = event.get("output") or {}
    report = event.get("report") or {}
    if (output.get("bucket"), output.get("key")) != (output_bucket, expected.output_key):
        problems.append(f"output {output.get('key')!r}, expected {expected.output_key!r}")
    if output.get("content_type") != expected.content_type:
        problems.append(f"content type {output.get('content_type')!r}, expected {expected.content_type!r}")
    if not report.get("replayed") and report.get("options") != expected.options:
        problems.append(f"options {report.get('options')}, expected {expected.options}")
    return problems


def _input_differences(upload: Upload, event: dict[str, Any]) -> list[str]:
    seen = event.get("input") or {}
    wanted = {
        "bucket": upload.bucket,
        "key": upload.key,
        "etag": upload.etag,
        "version_id": upload.version_id,
    }
    return [
        f"input {name} {seen.get(name)!r}, expected {value!r}"
        for name, value in wanted.items()
        if seen.get(name) != value
    ]


def _signature(event: dict[str, Any]) -> tuple[Any, ...]:
    """What every copy of one upload's event must agree on."""
    return (
        event.get("status"),
        (event.get("error") or {}).get("code"),
        event.get("job_id"),
        (event.get("output") or {}).get("key"),
    )


def _judge(upload: Upload, event: dict[str, Any], later: list[Upload], output_bucket: str) -> tuple[str, str]:
    """``("own" | "superseded" | "indistinguishable" | "wrong", why)`` for the event of ``upload``."""
    own = _input_differences(upload, event) + _differences(upload, event, output_bucket)
    if not own:
        return "own", ""
    if _input_differences(upload, event):
        return "wrong", "; ".join(own)
    error = event.get("error") or {}
    if (
        later
        and event.get("status") == "FAILED"
        and error.get("code") in SUPERSEDED_CODES
        and event.get("job_id") in (None, upload.job_id)
    ):
        return "superseded", ""
    if upload.version_id is None:
        for newer in later:
            if newer.data != upload.data or newer.started - upload.finished >= INDISTINGUISHABLE_WITHIN_S:
                continue
            superseded = event.get("status") == "FAILED" and error.get("code") in SUPERSEDED_CODES
            if not _differences(newer, event, output_bucket) or (
                superseded and event.get("job_id") == newer.job_id
            ):
                return "indistinguishable", f"described #{newer.index}"
    return "wrong", "; ".join(own)


def evaluate(
    config: ChaosConfig,
    *,
    uploads: list[Upload],
    collector: Collector,
    injector: FaultInjector,
    outputs: dict[str, dict[str, Any]],
    pipeline: Pipeline,
    elapsed: float,
) -> ChaosResult:
    output_bucket = pipeline.stack.output_bucket
    later: defaultdict[int, list[Upload]] = defaultdict(list)
    by_key: defaultdict[str, list[Upload]] = defaultdict(list)
    for upload in uploads:
        for earlier in by_key[upload.key]:
            later[earlier.index].append(upload)
        by_key[upload.key].append(upload)

    mismatches: list[str] = []
    notes: list[str] = []  # informational lines of the report
    verdicts: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    terminal = lost = duplicated = wrong = explained = 0
    claims: defaultdict[str, list[Upload]] = defaultdict(
        list
    )  # output key -> uploads announced COMPLETED there

    def outcome(upload: Upload) -> str:
        copies = collector.events.get(upload.event_id, [])
        if not copies:
            return "in the DLQ" if upload.index in collector.dead_uploads else "no event"
        return " then ".join(
            f"{copy.get('status')} {(copy.get('error') or {}).get('code') or ''}".strip() for copy in copies
        )

    def faults(upload: Upload) -> str:
        """What happened around ``upload``: the faults injected on its key, and its key's uploads."""
        seen = injector.by_key.get(upload.key)
        injected = f" [faults on this key: {', '.join(seen)}]" if seen else ""
        others = [u for u in by_key[upload.key] if u is not upload]
        history = "; ".join(
            f"#{u.index} {'identical bytes, ' if u.data == upload.data else ''}{outcome(u)}" for u in others
        )
        return injected + (f" [other uploads of this key: {history}]" if history else "")

    for upload in uploads:
        copies = collector.events.get(upload.event_id, [])
        if not copies:
            if upload.index in collector.dead_uploads:
                verdicts["in the dead-letter queue"] += 1
            else:
                lost += 1
                mismatches.append(f"lost: {upload.describe()}: no event, not in the DLQ{faults(upload)}")
            continue
        terminal += 1
        first = copies[0]
        error = first.get("error") or {}
        statuses[f"{first.get('status')} {error.get('code')}" if error else str(first.get("status"))] += 1
        extra = len(copies) - 1
        if len({_signature(copy) for copy in copies}) > 1:
            duplicated += 1
            shown = sorted({str(_signature(copy)) for copy in copies})
            mismatches.append(f"duplicated: {upload.describe()}: copies disagree: {shown}{faults(upload)}")
        elif extra > injector.explained_copies[upload.event_id]:
            duplicated += 1
            mismatches.append(
                f"duplicated: {upload.describe()}: {len(copies)} copies, "
                f"{injector.explained_copies[upload.event_id]} explained by faults{faults(upload)}"
            )
        else:
            explained += extra
        verdict, why = _judge(upload, first, later[upload.index], output_bucket)
        verdicts[verdict] += 1
        if verdict == "wrong":
            wrong += 1
            mismatches.append(f"wrong: {upload.describe()}: {why}{faults(upload)}")
        elif first.get("status") == "COMPLETED":
            claims[(first.get("output") or {}).get("key", "")].append(upload)

    strays = [
        copies[0] for event_id, copies in collector.events.items() if event_id not in collector.by_event_id
    ]
    for event in strays:
        wrong += 1
        seen = event.get("input") or {}
        mismatches.append(
            f"wrong: an event names no upload: event {event.get('event_id')} for {seen.get('key')} "
            f"(etag {seen.get('etag')}, version {seen.get('version_id')}), job {event.get('job_id')}, "
            f"{event.get('status')}"
        )

    stale = unannounced = 0
    for output_key, announced in sorted(claims.items()):
        latest = max(announced, key=lambda u: u.index)
        head = outputs.get(output_key)
        if head is None:
            wrong += 1
            mismatches.append(f"wrong: output {output_key} is missing; {latest.describe()} announced it")
            continue
        written = head.get("Metadata") or {}
        source = collector.by_sequencer.get((latest.bucket, latest.key, written.get("source-sequencer", "")))
        if source is latest:
            continue
        if source is not None and source.index > latest.index:
            unannounced += 1
            notes.append(
                f"  newer than announced: output {output_key} holds the result of {source.describe()} "
                f"(whose event is {outcome(source)}), announced by {latest.describe()}"
            )
            continue
        stale += 1
        wrong += 1
        made_from = source.describe() if source is not None else f"an unknown upload {written}"
        mismatches.append(
            f"wrong: output {output_key} holds the result of {made_from}, but the latest upload announced "
            f"COMPLETED there is {latest.describe()}{faults(latest)}"
        )
    orphans = sorted(set(outputs) - set(claims))
    for output_key in orphans:
        written = outputs[output_key].get("Metadata") or {}
        source = next(
            (u for u in uploads if u.sequencer and u.sequencer == written.get("source-sequencer")), None
        )
        made_from = f"{source.describe()}, whose event is {outcome(source)}" if source else str(written)
        notes.append(f"  never announced: output {output_key}, written for {made_from}")

    kinds = Counter(u.kind for u in uploads)
    overwrites = sum(1 for u in uploads if u.overwrites is not None)
    identical = sum(1 for u in uploads if u.identical)
    versioned = sum(1 for u in uploads if u.version_id)
    crashes = pipeline.mapping.crashes
    injected = ", ".join(f"{kind} {count}" for kind, count in sorted(injector.counts.items())) or "none"
    dead_with_event = sum(1 for i in collector.dead_uploads if uploads[i].event_id in collector.events)
    report = [
        f"chaos run: {len(uploads)} uploads, seed {config.seed}, {elapsed:.0f} s; "
        f"{injector.invocations} invocations ({crashes} crashed), "
        f"function timeout {config.function_timeout_s} s",
        "uploads: "
        + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        + f"; overwrites {overwrites} ({identical} with identical bytes); versioned {versioned}",
        f"faults injected: {injected}",
        "outcomes: " + ", ".join(f"{name} {count}" for name, count in sorted(statuses.items())),
        "verdicts: "
        + ", ".join(f"{name} {count}" for name, count in sorted(verdicts.items()))
        + f"; copies explained by faults {explained}",
        f"outputs: {len(outputs)} objects, {len(claims)} announced; stale {stale}, newer than announced "
        f"{unannounced}, never announced {len(orphans)}",
        *notes,
        f"dead-letter queue: {len(collector.dead)} messages, {len(collector.dead_uploads)} uploads "
        f"({dead_with_event} of them also have an event)",
    ]
    for message in collector.dead:
        parked = collector.upload_of(message.get("Body", ""))
        receives = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
        body = repr(message.get("Body", ""))[:200]
        what = parked.describe() + faults(parked) if parked is not None else body
        report.append(f"  in the DLQ after {receives} receives: {what}")
    return ChaosResult(
        uploads=len(uploads),
        terminal=terminal,
        lost=lost,
        duplicated=duplicated,
        wrong=wrong,
        dlq=len(collector.dead),
        report=report,
        mismatches=mismatches,
        faults=dict(injector.counts),
        workload={
            **kinds,
            "overwrites": overwrites,
            "identical overwrites": identical,
            "versioned": versioned,
        },
        verdicts=dict(verdicts),
        crashes=crashes,
    )


def print_result(result: ChaosResult, *, max_mismatches: int = 100) -> None:
    """The report, the mismatches (at most ``max_mismatches``), and the machine-readable last line."""
    for line in result.report:
        print(line)
    if result.mismatches:
        print(f"mismatches ({len(result.mismatches)}):")
        for line in result.mismatches[:max_mismatches]:
            print(f"  {line}")
        if len(result.mismatches) > max_mismatches:
            print(f"  ... and {len(result.mismatches) - max_mismatches} more")
    print(result.summary())
