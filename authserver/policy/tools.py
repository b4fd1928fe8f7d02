"""The operator's tools: `authserver policy check|test|table|explain|diff|replay` (SPEC §5, §10).

Exit codes: 0 success; 1 a test or check failed; 2 bad usage or an invalid file. Problems go to stderr as
`file:line:column: message`, results to stdout, so CI logs and editors can jump to the line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..routes import build_route_table
from .analysis import policy_warnings
from .coverage import measure_coverage
from .diff import diff_policies, load_acknowledgements
from .engine import DEFAULT_DENY, TARGETS, TOKEN_CLASSES, Policy
from .invariants import invariant_report, load_invariants
from .loader import PolicyError, load_policy
from .mutation import mutation_check
from .render import FORMATS, render
from .replay import replay_log
from .revisions import load_policy_spec
from .testing import is_table_path, load_test_table, run_table, table_path_for

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def _route_targets() -> dict[str, tuple[str, ...]]:
    return build_route_table().method_targets()


def _print_problems(error: PolicyError) -> None:
    for problem in error.problems:
        print(problem, file=sys.stderr)


def _configured_policy(config) -> str:
    """The configured policy's path, relative to the working directory when it is inside it (shorter lines)."""
    path = Path(config.policy_path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _policy_files(args, config) -> list[str]:
    return list(args.files) if getattr(args, "files", None) else [_configured_policy(config)]


# --- check ---------------------------------------------------------------------------------------------


def _invalid(path, error: PolicyError) -> int:
    _print_problems(error)
    print(f"{path}: invalid ({len(error.problems)} problem{'s' if len(error.problems) != 1 else ''})")
    return EXIT_INVALID


def _prove(invariants, policy: Policy) -> int:
    """Print each violated invariant with its counterexamples; the number violated."""
    lines, failed = invariant_report(invariants, policy)
    for line in lines:
        print(line)
    return failed


def _check_table(path: str, route_targets: dict) -> int:
    """Validate a test table (so `policy check policies/*.yaml` covers both kinds of file) and prove the
    invariants it states against its policy."""
    try:
        table = load_test_table(path, route_targets)
        invariants = load_invariants(path, route_targets)
        policy = load_policy(table.policy_path, route_targets) if invariants else None
    except PolicyError as error:
        return _invalid(path, error)
    failed = _prove(invariants, policy) if invariants else 0
    verdict = f"FAILED: {failed} of {len(invariants)} invariants violated" if failed else "ok"
    print(f"{path}: {verdict}: test table, {len(table.expectations)} cells and cases, "
          f"{len(invariants) - failed} invariants proved")
    return EXIT_FAILED if failed else EXIT_OK


def _check_policy(path: str, route_targets: dict, strict: bool) -> int:
    try:
        policy = load_policy(path, route_targets)
        invariants = load_invariants(path, route_targets)
    except PolicyError as error:
        return _invalid(path, error)
    warnings = policy_warnings(policy)
    for warning in warnings:
        print(warning)
    failed = _prove(invariants, policy)
    verdict = f"FAILED: {failed} of {len(invariants)} invariants violated" if failed else "ok"
    print(f"{path}: {verdict}: {len(policy.rules)} rules, {len(policy.table)} cells, {len(warnings)} warnings, "
          f"{len(invariants) - failed} invariants proved")
    return EXIT_FAILED if failed or (warnings and strict) else EXIT_OK


def policy_check(args, config) -> int:
    route_targets = _route_targets()
    results = [_check_table(path, route_targets) if is_table_path(path) else
               _check_policy(path, route_targets, args.strict) for path in _policy_files(args, config)]
    return max(results, default=EXIT_OK)  # an invalid file (2) outranks a failed check (1)


# --- test ----------------------------------------------------------------------------------------------


def _table_pairs(args, config) -> list[tuple[Path | None, Path]]:
    """(policy or None to take the table's `policy:`, table) for each FILE, a policy or a table."""
    pairs = []
    for path in map(Path, _policy_files(args, config)):
        pairs.append((None, path) if is_table_path(path) else (path, table_path_for(path)))
    return pairs


def policy_test(args, config) -> int:
    status = EXIT_OK
    route_targets = _route_targets()
    for policy_path, table_path in _table_pairs(args, config):
        if not table_path.is_file():
            print(f"{table_path}: no test table for {policy_path} (expected beside it)", file=sys.stderr)
            status = EXIT_INVALID
            continue
        try:
            table = load_test_table(table_path, route_targets)
            policy = load_policy(policy_path or table.policy_path, route_targets)
            invariants = load_invariants(table_path, route_targets)  # a table may state invariants too
        except PolicyError as error:
            _print_problems(error)
            status = EXIT_INVALID
            continue
        report = run_table(table, policy)
        print(report.render())
        failed = not report.passed or _prove(invariants, policy) > 0
        coverage = measure_coverage(table, policy)
        if args.require_coverage and not coverage.complete:
            for line in coverage.details(table.rows_where):
                print(line)
            failed = True
        print(f"{table.path}: {coverage.summary()}")
        if args.mutate:
            mutation = mutation_check(table, policy)
            print(mutation.render(table.path))
            failed = failed or bool(mutation.survivors)
        if failed and status == EXIT_OK:
            status = EXIT_FAILED
    return status


# --- table ---------------------------------------------------------------------------------------------


def policy_table(args, config) -> int:
    files = _policy_files(args, config)
    route_targets = _route_targets()
    for index, path in enumerate(files):
        try:
            policy = load_policy(path, route_targets)
        except PolicyError as error:
            _print_problems(error)
            return EXIT_INVALID
        if index:
            print()
        sys.stdout.write(render(policy, args.format))
    return EXIT_OK


# --- explain -------------------------------------------------------------------------------------------


def explain(policy: Policy, token_class: str, method: str, is_admin: bool, is_active: bool,
            targets: tuple[str, ...]) -> str:
    """Which rule decides each target of a request, what it overrode, and why other rules did not match."""
    lines = [f"policy {policy.source} (sha256 {policy.digest[:12]})",
             f"request: {method}, token class {token_class}, is_admin={str(is_admin).lower()}, "
             f"is_active={str(is_active).lower()}"]
    naming = [rule for rule in policy.rules if method in rule.methods]
    for target in targets:
        decision = policy.decide(token_class, method, is_admin, is_active, target)
        rule = policy.rule(decision.rule_id)
        verdict = "ALLOW" if decision.allowed else "DENY"
        if rule is None:
            lines.append(f"\ntarget {target}: {verdict} by {DEFAULT_DENY}: no rule matches, so the request is denied")
        else:
            lines.append(f"\ntarget {target}: {verdict} by rule {rule.id} ({rule.location})")
            lines.append(f"    {rule.description}")
        if decision.constraints:
            lines.append(f"    constraints: {', '.join(sorted(decision.constraints))}")
        for overridden_id in decision.overridden:
            overridden = policy.rule(overridden_id)
            why = "a deny beats any allow" if not decision.allowed else "one allow decides; constraints add up"
            lines.append(f"    also matched: {overridden.effect} {overridden_id} ({overridden.location}) - {why}")
        matched = {decision.rule_id, *decision.overridden}
        for other in naming:
            if other.id in matched:
                continue
            reasons = other.mismatches(token_class, method, is_admin, is_active, target)
            lines.append(f"    not matched: {other.effect} {other.id} ({other.location}): {'; '.join(reasons)}")
    return "\n".join(lines) + "\n"


def policy_explain(args, config) -> int:
    route_targets = _route_targets()
    if args.method not in route_targets:
        print(f"authserver: error: unknown method {args.method!r} (see `authserver policy table`)", file=sys.stderr)
        return EXIT_INVALID
    method_targets = route_targets[args.method]
    if args.target is not None and args.target not in method_targets:
        print(f"authserver: error: {args.method} has no target {args.target!r} "
              f"(its targets: {', '.join(method_targets)})", file=sys.stderr)
        return EXIT_INVALID
    path = args.policy or _configured_policy(config)
    try:
        policy = load_policy(path, route_targets)
    except PolicyError as error:
        _print_problems(error)
        return EXIT_INVALID
    is_admin = args.admin or args.token_class == "system"
    targets = (args.target,) if args.target else method_targets
    sys.stdout.write(explain(policy, args.token_class, args.method, is_admin, not args.inactive, targets))
    return EXIT_OK


# --- diff ----------------------------------------------------------------------------------------------


def policy_diff(args, config) -> int:
    route_targets = _route_targets()
    try:
        old = load_policy_spec(args.old, route_targets)
        new = load_policy_spec(args.new, route_targets)
        acknowledgements = load_acknowledgements(args.ack, route_targets) if args.ack else []
    except PolicyError as error:
        _print_problems(error)
        return EXIT_INVALID
    diff = diff_policies(old, new, acknowledgements)
    sys.stdout.write(diff.render())
    unacknowledged = diff.unacknowledged
    if unacknowledged and not args.allow_escalation:
        print(f"{len(unacknowledged)} escalation{'s' if len(unacknowledged) != 1 else ''} not acknowledged: "
              "review them, then pass --allow-escalation or list them in an --ack file", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


# --- replay --------------------------------------------------------------------------------------------


def policy_replay(args, config) -> int:
    route_targets = _route_targets()
    try:
        policy = load_policy_spec(args.policy or _configured_policy(config), route_targets)
    except PolicyError as error:
        _print_problems(error)
        return EXIT_INVALID
    try:
        report = replay_log(args.log, policy)
    except OSError as error:
        print(f"{args.log}: cannot read: {error.strerror}", file=sys.stderr)
        return EXIT_INVALID
    sys.stdout.write(report.render())
    return EXIT_FAILED if report.changed else EXIT_OK


# --- the parser ----------------------------------------------------------------------------------------


def add_policy_commands(commands, common: argparse.ArgumentParser, parser_class) -> None:
    """Hook `policy check|test|table|explain` into the `authserver` parser."""
    policy = commands.add_parser("policy", parents=[common], help="policy tools").add_subparsers(
        dest="policy_command", required=True, parser_class=parser_class)

    check = policy.add_parser("check", parents=[common],
                              help="validate policy files (default: the configured one); warnings for suspect rules")
    check.add_argument("files", nargs="*", metavar="FILE")
    check.add_argument("--strict", action="store_true", help="exit 1 when there are warnings")
    check.set_defaults(handler=policy_check)

    test = policy.add_parser("test", parents=[common],
                             help="run the test tables (FILE.test.yaml beside each policy, or the tables named)")
    test.add_argument("files", nargs="*", metavar="FILE")
    test.add_argument("--require-coverage", action="store_true",
                      help="exit 1 unless every cell is asserted and every rule decides an asserted cell")
    test.add_argument("--mutate", action="store_true",
                      help="exit 1 when a rule can be flipped, dropped or loosened without a test noticing")
    test.set_defaults(handler=policy_test)

    table = policy.add_parser("table", parents=[common], help="print the effective decision matrix")
    table.add_argument("files", nargs="*", metavar="FILE")
    table.add_argument("--format", choices=FORMATS, default="text")
    table.set_defaults(handler=policy_table)

    explain_parser = policy.add_parser("explain", parents=[common], help="which rule decides a request, and why")
    explain_parser.add_argument("--class", dest="token_class", required=True, choices=TOKEN_CLASSES)
    explain_parser.add_argument("--method", required=True, metavar="RESOURCE.METHOD")
    explain_parser.add_argument("--admin", action="store_true", help="the user is an admin")
    explain_parser.add_argument("--inactive", action="store_true", help="the user is deactivated")
    explain_parser.add_argument("--target", choices=TARGETS,
                                help="the target's relation to the caller (default: every target of the method)")
    explain_parser.add_argument("--policy", metavar="FILE", help="the policy file (default: the configured one)")
    explain_parser.set_defaults(handler=policy_explain)

    diff = policy.add_parser("diff", parents=[common],
                             help="the cells that flip between two policies (files or REV:path); exit 1 on escalations")
    diff.add_argument("old", metavar="OLD", help="a policy file, or REV:path read with git show")
    diff.add_argument("new", metavar="NEW", help="a policy file, or REV:path read with git show")
    diff.add_argument("--allow-escalation", action="store_true", help="exit 0 even when calls are opened")
    diff.add_argument("--ack", metavar="FILE", help="a YAML file of acknowledged escalations, each with a reason")
    diff.set_defaults(handler=policy_diff)

    replay = policy.add_parser("replay", parents=[common],
                               help="which requests of a decision log a policy decides differently; exit 1 if any")
    replay.add_argument("log", metavar="DECISION_LOG", help="a decision log (JSON lines, see decision_log in config)")
    replay.add_argument("--policy", metavar="NEW", help="a policy file or REV:path (default: the configured one)")
    replay.set_defaults(handler=policy_replay)
