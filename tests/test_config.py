from pathlib import Path

import pytest

from spark.config import load_settings
from spark.errors import InputError


def test_defaults_need_no_configuration(tmp_path: Path) -> None:
    s = load_settings(env={}, toml_path=tmp_path / "absent.toml")
    assert (s.port, s.impl, s.admin_token, s.write_enabled) == (4001, "engine", "", True)


def test_environment_beats_toml_beats_defaults(tmp_path: Path) -> None:
    toml = tmp_path / "spark.toml"
    toml.write_text('[spark]\nport = 5000\nimpl = "mock"\n[plugins]\ndisabled = ["write"]\n')
    s = load_settings(env={"BACKTEST_IMPL": "engine"}, toml_path=toml)
    assert (s.port, s.impl, s.disabled_plugins, s.write_enabled) == (5000, "engine", ("write",), False)


def test_env_list_and_paths(tmp_path: Path) -> None:
    s = load_settings(
        env={"SPARK_DISABLED_PLUGINS": "write, feeds", "SPARK_EVIDENCE_DIR": str(tmp_path)}, toml_path=None
    )
    assert s.disabled_plugins == ("feeds", "write")
    assert s.evidence_dir == tmp_path


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"BACKTEST_IMPL": "fast"}, "impl"),
        ({"SPARK_PORT": "eighty"}, "port"),
        ({"ADMIN_ENABLED": "perhaps"}, "admin_enabled"),
        ({"SPARK_MAX_UPLOAD_BYTES": "0"}, "max_upload_bytes"),
        ({"SPARK_MUTATION_RATE_LIMIT_PER_MINUTE": "0"}, "mutation_rate_limit_per_minute"),
    ],
)
def test_bad_values_are_refused_with_their_key(env: dict[str, str], field: str) -> None:
    with pytest.raises(InputError) as err:
        load_settings(env=env, toml_path=None)
    assert err.value.field == field


def test_broken_toml_is_refused(tmp_path: Path) -> None:
    toml = tmp_path / "spark.toml"
    toml.write_text("[spark\n")
    with pytest.raises(InputError, match="spark.toml"):
        load_settings(env={}, toml_path=toml)


def test_state_dir_defaults_to_dot_spark_and_follows_the_environment(tmp_path: Path) -> None:
    assert load_settings(env={}, toml_path=None).state_dir == Path(".spark")
    assert load_settings(env={"SPARK_STATE_DIR": str(tmp_path)}, toml_path=None).state_dir == tmp_path
    toml = tmp_path / "spark.toml"
    toml.write_text('[spark]\nstate_dir = "run/spark"\n')
    assert load_settings(env={}, toml_path=toml).state_dir == Path("run/spark")


def test_upload_limits_default_and_follow_the_environment() -> None:
    s = load_settings(env={}, toml_path=None)
    assert (s.max_upload_bytes, s.mutation_rate_limit_per_minute) == (50 * 1024 * 1024, 60)
    s = load_settings(
        env={"SPARK_MAX_UPLOAD_BYTES": "1000", "SPARK_MUTATION_RATE_LIMIT_PER_MINUTE": "5"}, toml_path=None
    )
    assert (s.max_upload_bytes, s.mutation_rate_limit_per_minute) == (1000, 5)
