"""The documented JSON shapes are a contract: every example in docs/cli.md has exactly the keys,
and values of the types, that the command really prints (run here on the demo company)."""

import json
import re
import shlex
from pathlib import Path

import pytest

from etl.cli import main

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
EXAMPLE = re.compile(r"<!-- shape of: python -m etl (?P<command>[^>]+?) -->.*?```json\n(?P<example>.*?)```", re.S)
EXAMPLES = {match["command"]: json.loads(match["example"]) for match in EXAMPLE.finditer(DOC.read_text())}


def kind(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "null" if value is None else type(value).__name__


def differences(documented, printed, where="") -> list[str]:
    """Where the two differ in keys or types; null stands for a figure that may be missing."""
    if isinstance(documented, dict) and isinstance(printed, dict):
        found = [f"{where}: documented only {sorted(set(documented) - set(printed))}"] if set(documented) - set(printed) else []
        found += [f"{where}: printed only {sorted(set(printed) - set(documented))}"] if set(printed) - set(documented) else []
        return found + [d for key in set(documented) & set(printed)
                        for d in differences(documented[key], printed[key], f"{where}.{key}")]
    if isinstance(documented, list) and isinstance(printed, list):
        return differences(documented[0], printed[0], f"{where}[0]") if documented and printed else []
    if "null" in (kind(documented), kind(printed)) or kind(documented) == kind(printed):
        return []
    return [f"{where}: documented {kind(documented)}, printed {kind(printed)}"]


def test_every_command_with_a_json_shape_is_documented():
    assert sorted(EXAMPLES) == sorted([
        "info --format json", "report aging --format json", "report kpis --format json",
        "report clients --format json", "report autopay --format json", "report forecast --format json",
        "backtest --format json", "remind --dry-run --format json"])


@pytest.mark.parametrize("command", sorted(EXAMPLES))
def test_the_documented_shape_is_what_the_command_prints(command, demo_db, capsys):
    assert main([*shlex.split(command), "--db", str(demo_db)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert differences(EXAMPLES[command], printed) == []


def test_every_link_in_the_readme_and_the_docs_leads_somewhere():
    root = DOC.parent.parent
    broken = []
    for page in [root / "README.md", *sorted((root / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)\)", page.read_text()):
            inside = (page.parent / target).resolve().is_relative_to(root)  # ../shared is not the repository's
            if inside and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(root)} -> {target}")
    assert broken == []


def test_the_setup_message_names_a_section_that_exists():
    from core.errors import SettingsError
    from core.settings import Settings
    from etl.sources.quickbooks.api import read_settings

    with pytest.raises(SettingsError) as missing:
        read_settings(Settings({}, secrets_file=None))
    path, section = re.search(r"See (\S+), '([^']+)'", str(missing.value)).groups()
    assert f"## {section}\n" in (DOC.parent.parent / path).read_text()
