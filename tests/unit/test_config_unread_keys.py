"""Dataset keys a provider never reads are refused (application/config_checks._check_unread_keys)."""

import pytest
from invarlock.application.config import parse_config
from invarlock.domain.errors import UsageError


@pytest.mark.parametrize(
    ("dataset", "keys"),
    [
        ({"provider": "demo:wikipedia", "path": "mine.txt", "text_field": "body"}, "dataset.path, dataset.text_field"),
        ({"provider": "demo:news", "file": "mine.txt"}, "dataset.file"),
        ({"provider": "wikitext2", "label_field": "y"}, "dataset.label_field"),
        ({"provider": "text", "path": "mine.txt", "text_field": "body"}, "dataset.text_field"),
    ],
)
def test_a_file_or_field_the_provider_never_reads_is_refused(dataset: dict[str, str], keys: str) -> None:
    """The certificate's config named the user's file and field while the demo text was scored (the configs hunt,
    stop 71)."""
    with pytest.raises(UsageError) as err:
        parse_config({"dataset": dataset}, source="c.yaml")
    said = f"c.yaml: {keys} {'are' if ',' in keys else 'is'} not read by provider {dataset['provider']}"
    assert err.value.code == "E201" and err.value.message == said


def test_the_providers_that_read_a_file_and_fields_take_them() -> None:
    given = {"path": "mine.jsonl", "text_field": "body", "label_field": "y"}
    for provider in ("jsonl", "hf"):
        assert parse_config({"dataset": {"provider": provider, **given}}, source="c").dataset.text_field == "body"


def test_a_recorded_config_is_not_refused_so_a_run_recorded_before_the_check_resumes() -> None:
    """Resume re-reads the recorded config: a run recorded with a path on a demo provider could never be finished
    (the regression hunt, stop 71)."""
    recorded = {"dataset": {"provider": "demo:wikipedia", "path": "mine.txt", "text_field": "body"}}
    assert parse_config(recorded, source="recorded", as_written=False).dataset.path == "mine.txt"


def test_a_suites_dataset_is_checked_as_a_config_is() -> None:
    from invarlock.application.calibrate.calibration import parse_suite

    suite = {"dataset": {"provider": "demo:news", "path": "mine.txt"}, "cases": [{"name": "a", "kind": "benign"}]}
    with pytest.raises(UsageError) as err:
        parse_suite(suite, source="s.yaml")
    assert err.value.message == "s.yaml: case a: dataset.path is not read by provider demo:news"
