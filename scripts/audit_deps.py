"""Fail when an installed distribution has a known vulnerability (PyPI's advisory data).

pip-audit asks PyPI per release (``/pypi/<name>/<version>/json``). Where only the project
document (``/pypi/<name>/json``) is reachable, as behind some registry proxies, pip-audit
cannot audit anything and still says "No known vulnerabilities found". This runs pip-audit,
then audits what it skipped from the project document, which lists the advisories of the
latest release: a distribution installed at the latest release is audited exactly; one that
is not is reported as unaudited, and ``--strict`` turns that into a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import httpx

PYPI = "https://pypi.org/pypi"

# Advisories looked at and accepted, by any of their ids, with the reason. Keep this short.
ACCEPTED = {
    "GHSA-w8v5-vhqr-4h9v": "diskcache unpickles its cache directory; it comes with "
    "llama-cpp-python for LlamaDiskCache, which studyroom never creates; no fixed release",
}


def accepted(ids: list[str]) -> bool:
    return any(i in ACCEPTED for i in ids)


def pip_audit(python: Path) -> dict[str, object]:
    done = subprocess.run(  # noqa: S603 - a fixed command line
        [
            str(python),
            "-m",
            "pip_audit",
            "--skip-editable",
            "-f",
            "json",
            "--progress-spinner",
            "off",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):
        sys.exit(f"pip-audit failed:\n{done.stderr}")
    report: dict[str, object] = json.loads(done.stdout)
    return report


async def advisories(name: str, version: str, http: httpx.AsyncClient) -> list[str] | None:
    """Advisory ids for ``name==version``; ``None`` when PyPI cannot say."""
    for attempt in range(3):
        try:
            answer = await http.get(f"{PYPI}/{name}/json")
            break
        except httpx.HTTPError:
            await asyncio.sleep(2**attempt)
    else:
        return None  # unreachable: reported as unaudited
    if answer.status_code != 200:
        return None
    document = answer.json()
    if document["info"]["version"] != version:
        return None
    return [
        v["id"]
        for v in document.get("vulnerabilities") or []
        if not v.get("withdrawn") and not accepted([v["id"], *(v.get("aliases") or [])])
    ]


async def fill_in(skipped: list[tuple[str, str]]) -> tuple[dict[str, list[str]], list[str]]:
    async with httpx.AsyncClient(timeout=30) as http:
        found = await asyncio.gather(*(advisories(n, v, http) for n, v in skipped))
    vulnerable = {f"{n}=={v}": ids for (n, v), ids in zip(skipped, found, strict=True) if ids}
    unaudited = [f"{n}=={v}" for (n, v), ids in zip(skipped, found, strict=True) if ids is None]
    return vulnerable, unaudited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="fail on unaudited distributions")
    args = parser.parse_args()
    report = pip_audit(Path(sys.executable))
    vulnerable: dict[str, list[str]] = {}
    skipped: list[tuple[str, str]] = []
    for dep in report["dependencies"]:  # type: ignore[attr-defined]
        if dep.get("skip_reason"):
            if "editable" not in dep["skip_reason"]:
                skipped.append((dep["name"], metadata.version(dep["name"])))
        elif dep.get("vulns"):
            ids = [v["id"] for v in dep["vulns"] if not accepted([v["id"], *v["aliases"]])]
            if ids:
                vulnerable[f"{dep['name']}=={dep['version']}"] = ids
    more, unaudited = asyncio.run(fill_in(skipped))
    vulnerable |= more
    audited = len(report["dependencies"]) - len(unaudited)  # type: ignore[arg-type]
    print(f"audited {audited} distributions; {len(unaudited)} could not be audited")
    if unaudited:
        print("  not audited (no advisory data for the installed release): " + ", ".join(unaudited))
    for advisory, reason in ACCEPTED.items():
        print(f"  accepted {advisory}: {reason}")
    for name, ids in sorted(vulnerable.items()):
        print(f"  VULNERABLE {name}: {', '.join(ids)}")
    if vulnerable or (args.strict and unaudited):
        sys.exit(1)


if __name__ == "__main__":
    main()
