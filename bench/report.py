"""The benchmark's figures as text: one table per section, each figure with its ratio and its budget (issue 5)."""

WARM_BUDGET = 2.0
COLD_BUDGET = 1.5
# The one call each operation is allowed on the events table (health: none).
EXPECTED_CALLS = {
    "create": {"PutItem events": 1},
    "create (Idempotency-Key)": {"PutItem events": 1},
    "create (same key again)": {"PutItem events": 1},
    "get": {"GetItem events": 1},
    "inbox page": {"Query events": 1},
    "ack": {"UpdateItem events": 1},
    "ack again (409)": {"UpdateItem events": 1},
    "ack unknown (404)": {"UpdateItem events": 1},
    "delete": {"DeleteItem events": 1},
    "health": {},
}
WARM_NAMES = {
    "ours": "ours",
    "ours_no_log_line": "ours without its INFO log line",
    "flask": "Flask + aws-wsgi reference",
    "raw": "raw Lambda handler (floor)",
}


def _mark(ok: bool) -> str:
    return "ok" if ok else "OVER"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))  # noqa: E731
    return [line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)]


def warm(figures: dict) -> list[str]:
    operations = figures["operations"]
    lines = [
        f"Warm overhead per request, µs (median of {figures['repeats']} × {figures['calls']} calls through each Lambda "
        f"handler; storage: the in-memory double). Budget: ours ≤ {WARM_BUDGET:.1f}× the Flask reference.",
    ]
    rows = []
    for operation, by_name in operations.items():
        reference = by_name["flask"]["median"]
        ratio = by_name["ours"]["median"] / reference
        rows.append(
            [
                operation,
                f"{by_name['ours']['median']:.0f}",
                f"{by_name['flask']['median']:.0f}",
                f"{by_name['raw']['median']:.0f}",
                f"{ratio:.2f}×",
                f"{by_name['ours_no_log_line']['median'] / reference:.2f}×" if "ours_no_log_line" in by_name else "",
                f"{by_name['raw']['median'] / reference:.2f}×",
                _mark(ratio <= WARM_BUDGET),
            ]
        )
    header = ["operation", "ours", "flask", "raw", "ours/flask", "(no log line)", "raw/flask", "budget"]
    lines += _table(header, rows)
    if not figures.get("reference_schema_matches_spec", True):
        lines.append("WARNING: bench/schemas.py no longer matches the spec's NewEvent: the references validate less")
    return lines


def levers(figures: dict, variants: dict[str, tuple]) -> list[str]:
    """Before/after: each lever added in turn, µs and ratio to the Flask reference of the same run."""
    operations = figures["operations"]
    columns = [op for op in operations if any(name in operations[op] for name in variants)]
    rows = []
    for name, (_, label) in variants.items():
        if name not in operations[columns[0]]:
            continue
        row = [label]
        for operation in columns:
            value = operations[operation][name]["median"]
            row.append(f"{value:.0f} ({value / operations[operation]['flask']['median']:.2f}×)")
        rows.append(row)
    row = ["ours (triggers/http/app.py)"]
    for operation in columns:
        value = operations[operation]["ours"]["median"]
        row.append(f"{value:.0f} ({value / operations[operation]['flask']['median']:.2f}×)")
    rows.append(row)
    if "+validate_responses" in operations[columns[0]]:
        row = ["ours + response validation (the tests' setting)"]
        for operation in columns:
            value = operations[operation]["+validate_responses"]["median"]
            row.append(f"{value:.0f} ({value / operations[operation]['flask']['median']:.2f}×)")
        rows.append(row)
    return ["What each lever bought: µs per request (ratio to the Flask reference), levers added in turn."] + _table(
        ["variant", *columns], rows
    )


def cold(figures: dict) -> list[str]:
    subjects = figures["subjects"]
    reference = subjects["flask"]["wall"]["median"]
    names = {
        "ours": "ours",
        "before": "ours before the levers",
        "ours_nopyc": "ours without .pyc",
        "flask": "Flask + aws-wsgi reference",
        "raw": "raw Lambda handler (floor)",
    }
    rows = []
    for name in ("ours", "before", "ours_nopyc", "flask", "raw"):
        if name not in subjects:
            continue
        subject = subjects[name]
        ratio = subject["wall"]["median"] / reference
        rows.append(
            [
                names[name],
                f"{subject['wall']['median']:.0f}",
                f"{subject['import_ms']:.0f}",
                f"{subject['first_request_ms']:.1f}",
                f"{ratio:.2f}×",
                _mark(ratio <= COLD_BUDGET) if name == "ours" else "",
            ]
        )
    lines = [
        f"Cold start, ms (median of {figures['runs']} fresh processes: start, import, build, one create, exit). "
        f"Budget: ours ≤ {COLD_BUDGET:.1f}× the Flask reference.",
        *_table(["subject", "whole process", "import+build", "first request", "ratio", "budget"], rows),
        "",
        f"python -X importtime, ours (handlers.lambda_handler, which builds the app; median of 3): "
        f"{figures['importtime']['total_ms']:.0f} ms; the ten packages with most own import time:",
        "  " + ", ".join(f"{name} {ms:.0f}" for name, ms in figures["importtime"]["top_packages_ms"]),
    ]
    return lines


def _calls(calls: dict) -> str:
    total = sum(calls.values())
    return f"{total} ({', '.join(f'{n} {name}' if n > 1 else name for name, n in calls.items())})" if total else "0"


def dynamodb(figures: dict) -> list[str]:
    rows = []
    for operation, counted in figures["operations"].items():
        ok = counted["warm"] == EXPECTED_CALLS.get(operation, counted["warm"]) and all(
            counted["cold"].get(name) == n for name, n in EXPECTED_CALLS.get(operation, {}).items()
        )
        rows.append([operation, _calls(counted["warm"]), _calls(counted["cold"]), _mark(ok)])
    lines = [
        "DynamoDB calls per operation (the real handler against moto, counted by botocore's before-call event). "
        "warm = key lookup cached and a rate-limit lease in hand; cold = a new container. "
        f"A lease covers {figures['rate_limit_lease']} requests of a key (at the default limit).",
        *_table(["operation", "warm container", "cold container", "budget"], rows),
        "",
        f"Inbox page (limit {figures['page_limit']}): items read (ScannedCount)",
    ]
    scanned = figures["scanned"]
    baseline = scanned["10 pending"]
    for case, count in scanned.items():
        # A page reads at most `limit` items; with 10 pending it reads 10, whatever else the table holds.
        ok = count == baseline if case.startswith("10 pending") else count <= figures["page_limit"]
        lines.append(f"  {case}: {count}  {_mark(ok)}")
    return lines


def package(figures: dict) -> list[str]:
    budget = figures["budget_mb"]
    lines = ["Package size (zip as Lambda gets it; budget ≤ 8 MB without the docs UI assets, ≤ 10 MB with them)"]
    artifacts = figures["serverless"] or []
    if not artifacts:
        lines.append("  no .serverless/*.zip in this run (make package builds it): the estimate below stands in")
    for described in [*artifacts, figures["estimate"]]:
        zipped, docs = described["zipped_mb"], described["docs_ui_zipped_mb"]
        ok = zipped <= budget["with_docs_ui"] and zipped - docs <= budget["without_docs_ui"]
        tags = ", ".join(f"{count} {tag}" for tag, count in described["pyc_by_tag"].items()) or "none"
        lines.append(
            f"  {described['path']}: {zipped:.1f} MB zipped ({zipped - docs:.1f} MB without the docs UI's "
            f"{docs:.1f} MB), {described['unzipped_mb']:.1f} MB unzipped, {described['files']} files; "
            f".pyc: {tags}; boto3 inside: {'yes' if described['has_boto3'] else 'no'}  {_mark(ok)}"
        )
    return lines
