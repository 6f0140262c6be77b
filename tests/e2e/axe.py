"""Axe: accessibility checks of a page with axe-core (npm devDependency), against WCAG 2.1 A and AA.

axe-core is injected with ``page.evaluate`` rather than a script tag: the
pages' Content-Security-Policy (``script-src 'self'``) would block a tag
whose source is not the server, and evaluate runs outside that policy.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

RUN = """
async ({tags, exclude}) => {
  const context = exclude.length ? { include: [document], exclude: exclude.map((s) => [s]) } : document;
  const options = { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] };
  const result = await axe.run(context, options);
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({ target: n.target, html: n.html, summary: n.failureSummary })),
  }));
}
"""


@cache
def _source() -> str:
    if not AXE.exists():
        raise FileNotFoundError(f"{AXE} is missing: run `npm ci` in the repository root")
    return AXE.read_text(encoding="utf-8")


def violations(page: Page, *, exclude: list[str] | None = None) -> list[dict[str, Any]]:
    """violations runs axe-core on the page as it is now (WCAG 2.0/2.1 A and AA rules) and
    returns its violations; exclude lists CSS selectors of parts to leave out."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_source())
    found: list[dict[str, Any]] = page.evaluate(RUN, {"tags": TAGS, "exclude": exclude or []})
    return found


def describe(found: list[dict[str, Any]]) -> str:
    """describe lists violations readably: rule, impact and help, then each element's selector,
    its HTML and what is wrong with it."""
    lines: list[str] = []
    for v in found:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"]:
            lines.append(f"    at {' '.join(map(str, node['target']))}")
            lines.append(f"       {node['html'][:300]}")
            for detail in (node["summary"] or "").splitlines():
                lines.append(f"       {detail}")
    return "\n".join(lines)


def assert_accessible(page: Page, what: str, *, exclude: list[str] | None = None) -> None:
    """assert_accessible fails the test if axe-core finds WCAG 2.1 A or AA violations on the page
    as it is now; what names the page (and state) in the message."""
    found = violations(page, exclude=exclude)
    assert not found, f"{what} ({page.url}) has {len(found)} accessibility violation(s):\n{describe(found)}"
