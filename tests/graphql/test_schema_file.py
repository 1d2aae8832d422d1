"""The checked-in schema.graphql matches the code; regenerate with the export command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from graphql import build_ast_schema, parse

from lifecycle_plugin.graphql.export import SCHEMA_FILE, current_sdl

REGENERATE = "python -m lifecycle_plugin.graphql.export"


def without_descriptions(sdl: str) -> str:
    """graphql-core 2 cannot parse descriptions (a 2018 addition to the spec); drop them to check the rest."""
    return re.sub(r'^\s*"""(?:.|\n)*?"""\n', "", sdl, flags=re.M)


def test_schema_file_is_current():
    assert SCHEMA_FILE.read_text() == current_sdl(), f"schema.graphql is out of date: run `{REGENERATE}`"


def test_schema_file_is_valid_sdl_for_the_same_types():
    built = build_ast_schema(
        parse("schema { query: Query mutation: Mutation }\n" + without_descriptions(SCHEMA_FILE.read_text()))
    )
    from lifecycle_plugin.graphql.schema import schema

    def shape(s):
        return {name: sorted(getattr(t, "fields", {}) or {}) for name, t in s.get_type_map().items()}

    assert shape(built) == shape(schema)


def test_the_schema_does_not_depend_on_the_store_settings(settings):
    settings.LIFECYCLE_SETTINGS = {"tiers": "vip: USD 5000", "at_risk_days": "30"}
    assert current_sdl() == SCHEMA_FILE.read_text()


def test_export_check_command(tmp_path: Path):
    stale = tmp_path / "schema.graphql"
    stale.write_text("type Query { old: String }\n")
    command = [sys.executable, "-m", "lifecycle_plugin.graphql.export", "--check", "-o", str(stale)]
    environment = {"PATH": "", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=tmp_path)
    assert result.returncode == 1 and REGENERATE in result.stderr
    fresh = subprocess.run(
        [*command[:3], "-o", str(stale)], capture_output=True, text=True, env=environment, cwd=tmp_path
    )
    assert fresh.returncode == 0, fresh.stderr
    assert stale.read_text() == current_sdl()


def test_the_examples_in_the_docs_fit_the_schema():
    from graphql import validate

    from lifecycle_plugin.graphql.schema import schema

    docs = (Path(__file__).resolve().parents[2] / "docs" / "graphql.md").read_text()
    examples = re.findall(r"```graphql\n(.*?)```", docs, re.S)
    # The SDL excerpt and the gateway query (`me` is Saleor's) are not queries of this schema.
    queries = [example for example in examples if not example.startswith("extend") and "me {" not in example]
    assert len(queries) >= 6
    for query in queries:
        assert validate(schema, parse(query)) == [], query


def test_stage_and_tier_codes_are_enums_with_a_value_for_each_default():
    from graphql.type.definition import GraphQLEnumType

    from lifecycle_plugin.graphql.schema import schema
    from lifecycle_plugin.rules import DEFAULT_TIERS, Stage

    def code_type(type_name):
        return schema.get_type(type_name).fields["code"].type.of_type

    for type_name in ("LifecycleStage", "LifecycleCustomerStage", "LifecycleStageDefinition"):
        assert code_type(type_name).name == "LifecycleStageCode"
    for type_name in ("LifecycleTier", "LifecycleCustomerTier", "LifecycleTierDefinition"):
        assert code_type(type_name).name == "LifecycleTierCode"
    stages, tiers = schema.get_type("LifecycleStageCode"), schema.get_type("LifecycleTierCode")
    assert isinstance(stages, GraphQLEnumType) and isinstance(tiers, GraphQLEnumType)
    assert [v.name for v in stages.values] == [s.name for s in Stage] + ["CUSTOM"]
    assert [v.name for v in tiers.values] == [t.code.upper() for t in DEFAULT_TIERS] + ["CUSTOM"]
