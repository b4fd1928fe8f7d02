"""`policy table`: the effective matrix of a compiled policy as text, Markdown, CSV or an HTML page.

Rows are `resource.method` × target, columns the standard variants (`trusted`, `trusted+admin`, ...).
Every cell comes from the compiled table itself, so what is printed is exactly what the server decides.
"""

from __future__ import annotations

import csv
import io
from html import escape

from .capabilities import capability_sentences
from .engine import DEFAULT_DENY, Decision, Policy, Rule
from .variants import STANDARD_VARIANTS, domain_cells

FORMATS = ("text", "markdown", "html", "csv")
LEGEND = ("allow = allowed; allow* = allowed with constraints (scopes/expiry within the creator's); "
          "DENY = denied by a deny rule; - = denied by default (no rule allows)")


def _rows(policy: Policy):
    for method, targets in policy.route_targets.items():
        for target in targets:
            yield method, target, [
                policy.decide(v.token_class, method, v.is_admin, v.is_active, target) for v in STANDARD_VARIANTS
            ]


def cell_symbol(decision: Decision) -> str:
    if decision.allowed:
        return "allow*" if decision.constraints else "allow"
    return "-" if decision.rule_id == DEFAULT_DENY else "DENY"


def _title(policy: Policy) -> str:
    return f"policy {policy.name or policy.source} ({policy.source}, sha256 {policy.digest[:12]})"


def render_text(policy: Policy) -> str:
    header = ["method", "target"] + [v.label for v in STANDARD_VARIANTS]
    body = [[method, target] + [cell_symbol(d) for d in decisions] for method, target, decisions in _rows(policy)]
    widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]
    lines = [_title(policy), ""]
    for row in [header] + body:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    lines += ["", LEGEND, "", "Capabilities:"] + [f"  {sentence}" for sentence in capability_sentences(policy)]
    return "\n".join(lines) + "\n"


def render_markdown(policy: Policy) -> str:
    header = ["method", "target"] + [v.label for v in STANDARD_VARIANTS]
    lines = [f"**{_title(policy)}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, target, decisions in _rows(policy):
        cells = [f"`{method}`", target] + [cell_symbol(d).replace("*", "\\*") for d in decisions]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", LEGEND.replace("*", "\\*"), "", "**Capabilities**", ""]
    lines += [f"- {sentence}" for sentence in capability_sentences(policy)]
    return "\n".join(lines) + "\n"


def render_csv(policy: Policy) -> str:
    """One line per cell (long form, inactive users included), for spreadsheets, scripts and the golden
    tables committed beside the policies (`policies/*.csv`): a change of behaviour is a one-line diff."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["method", "target", "column", "class", "is_admin", "is_active", "effect", "rule",
                     "overridden", "constraints"])
    for variant, method, target in domain_cells(policy.route_targets):
        decision = policy.decide(variant.token_class, method, variant.is_admin, variant.is_active, target)
        writer.writerow([method, target, variant.label, variant.token_class, str(variant.is_admin).lower(),
                         str(variant.is_active).lower(), decision.effect, decision.rule_id,
                         " ".join(decision.overridden), " ".join(sorted(decision.constraints))])
    return out.getvalue()


_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1d2330; background: #fafbfc; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } .meta { color: #5b6472; margin-bottom: 1.2rem; }
table { border-collapse: collapse; margin-bottom: 2rem; background: #fff; box-shadow: 0 1px 3px #0002; }
th, td { border: 1px solid #dde1e6; padding: .3rem .6rem; text-align: left; }
thead th { background: #26324a; color: #fff; position: sticky; top: 0; }
td.method { font-family: ui-monospace, monospace; } td.target { color: #5b6472; }
tr.first td { border-top: 2px solid #9aa3af; }
td.cell { text-align: center; font-weight: 600; }
td.cell a { display: block; text-decoration: none; color: inherit; }
.allow { background: #c9f2d2; color: #11612a; } .allowc { background: #e4f7c6; color: #3f6212; }
.deny { background: #fbd0d0; color: #8a1c1c; } .default { background: #eef0f3; color: #8a93a1; }
.legend span { display: inline-block; padding: .1rem .6rem; margin-right: .5rem; border-radius: 3px; }
tr:target td, tr:target th { outline: 3px solid #f5b400; }
code { font-family: ui-monospace, monospace; font-size: .92em; } th code { white-space: nowrap; }
"""


def _cell_class(decision: Decision) -> str:
    if decision.allowed:
        return "allowc" if decision.constraints else "allow"
    return "default" if decision.rule_id == DEFAULT_DENY else "deny"


def _cell_tooltip(decision: Decision, rule: Rule | None) -> str:
    parts = [f"{decision.effect} by {decision.rule_id}"]
    if rule is not None and rule.description:
        parts.append(rule.description)
    if decision.constraints:
        parts.append("constraints: " + ", ".join(sorted(decision.constraints)))
    if decision.overridden:
        parts.append("overrode: " + ", ".join(decision.overridden))
    return " | ".join(parts)


def _rule_conditions(rule: Rule) -> str:
    conditions = []
    if rule.is_admin is not None:
        conditions.append(f"is_admin={str(rule.is_admin).lower()}")
    if rule.is_active is not None:
        conditions.append(f"is_active={str(rule.is_active).lower()}")
    if rule.targets is not None:
        conditions.append("target=" + "/".join(sorted(rule.targets)))
    return ", ".join(conditions) or "(always)"


def render_html(policy: Policy) -> str:
    rules = {rule.id: rule for rule in policy.rules}
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{escape(_title(policy))}</title><style>{_CSS}</style></head><body>",
           f"<h1>Policy {escape(policy.name or policy.source)}</h1>",
           f'<div class="meta">{escape(" → ".join(policy.sources or (policy.source,)))} · sha256 '
           f"<code>{escape(policy.digest)}</code> · default deny; a deny beats any allow; rule order never "
           "matters. Click a cell to see the rule that decided it.</div>",
           '<p class="legend"><span class="allow">allow</span><span class="allowc">allow*</span>'
           '<span class="deny">DENY</span><span class="default">-</span> '
           "allow* carries constraints; DENY is a deny rule; - is the default deny.</p>",
           "<table><thead><tr><th>method</th><th>target</th>"]
    out += [f"<th>{escape(v.label)}</th>" for v in STANDARD_VARIANTS]
    out.append("</tr></thead><tbody>")
    previous = None
    for method, target, decisions in _rows(policy):
        first = method != previous
        previous = method
        out.append(f'<tr{" class=first" if first else ""}><td class="method">{escape(method) if first else ""}</td>'
                   f'<td class="target">{escape(target)}</td>')
        for decision in decisions:
            rule = rules.get(decision.rule_id)
            href = f"#rule-{decision.rule_id}" if rule else "#default-deny"
            out.append(f'<td class="cell {_cell_class(decision)}"><a href="{escape(href)}" '
                       f'title="{escape(_cell_tooltip(decision, rule))}">{escape(cell_symbol(decision))}</a></td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    out.append("<h2>Rules</h2><table><thead><tr><th>id</th><th>effect</th><th>methods</th><th>classes</th>"
               "<th>when</th><th>constraints</th><th>cells</th><th>description</th><th>where</th></tr></thead><tbody>")
    for rule in policy.rules:
        effect_class = "allow" if rule.effect == "allow" else "deny"
        out.append(
            f'<tr id="rule-{escape(rule.id)}"><th><code>{escape(rule.id)}</code></th>'
            f'<td class="{effect_class}">{escape(rule.effect)}</td>'
            f"<td><code>{escape(', '.join(sorted(rule.methods)))}</code></td>"
            f"<td>{escape(', '.join(sorted(rule.classes)))}</td><td>{escape(_rule_conditions(rule))}</td>"
            f"<td>{escape(', '.join(sorted(rule.constraints)) or '-')}</td>"
            f"<td>{policy.rule_cells.get(rule.id, 0)}</td><td>{escape(rule.description)}</td>"
            f"<td><code>{escape(rule.location)}</code></td></tr>"
        )
    out.append(f'<tr id="default-deny"><th><code>{DEFAULT_DENY}</code></th><td class="default">deny</td>'
               '<td colspan="7">Any request no rule allows is denied.</td></tr>')
    out.append("</tbody></table><h2>Capabilities</h2><ul>")
    out += [f"<li>{escape(sentence)}</li>" for sentence in capability_sentences(policy)]
    out.append("</ul></body></html>")
    return "\n".join(out) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "html": render_html, "csv": render_csv}


def render(policy: Policy, fmt: str) -> str:
    return RENDERERS[fmt](policy)
