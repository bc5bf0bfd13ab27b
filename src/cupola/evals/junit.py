"""JUnit XML for CI systems: one test suite per target, one test case per test.

A test case fails when any repeat failed (the message gives the pass rate and the first failing
assertion's reason) and is an error when a repeat could not run. Properties carry the numbers.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any


def junit_xml(doc: dict[str, Any]) -> str:
    labels = {t["id"]: t.get("label") or t["id"] for t in doc["tests"]}
    root = ET.Element("testsuites", name=str(doc.get("description") or doc["id"]))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for target in doc["targets"]:
        suite = ET.SubElement(root, "testsuite", name=target["id"])
        props = ET.SubElement(suite, "properties")
        for key in ("pass_rate", "mean_score", "std", "pass_at_n", "pass_hat_n", "flaky"):
            ET.SubElement(props, "property", name=key, value=str(target.get(key)))
        counts = {"tests": 0, "failures": 0, "errors": 0}
        seconds = 0.0
        for cell in target["tests"]:
            repeats = cell["repeats"]
            ms = sum(s.get("latency_ms") or 0 for s in repeats)
            seconds += ms / 1000
            case = ET.SubElement(suite, "testcase", classname=f"{doc.get('description') or 'eval'}.{target['id']}",
                                 name=labels.get(cell["test"], cell["test"]), time=f"{ms / 1000:.3f}")
            counts["tests"] += 1
            errors = [s for s in repeats if s["status"] == "error"]
            failures = [s for s in repeats if s["status"] == "failed"]
            rate = f"{cell.get('passed', 0)}/{cell.get('n', 0)} repeats passed"
            if errors:
                counts["errors"] += 1
                ET.SubElement(case, "error", message=f"{rate}; {errors[0].get('error')}")
            elif failures:
                counts["failures"] += 1
                first = next((a for a in failures[0]["assertions"] if a.get("pass") is False), None)
                why = f"{first['label']}: {first['reason']}" if first else "failed"
                node = ET.SubElement(case, "failure", message=f"{rate}; {why}")
                node.text = "\n".join(f"repeat {s['repeat']} (seed {s['seed']}): {str(s.get('output'))[:500]}"
                                      for s in failures)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{seconds:.3f}")
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
