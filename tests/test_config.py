"""The one layered config loader (ainkit.services.config) that curate and train share."""
import pytest

from ainkit.services.config import ConfigError, layered

DEFAULTS = {"shards": 1, "translate": {"model": None, "concurrency": 8}, "verify": {"thresholds": {"bleu4": 0.6}}}
FREE = ("verify.thresholds",)


def preset(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_then_preset_then_set(tmp_path):
    p = preset(tmp_path, "\ufefftranslate:\n  model: openai:x\nverify:\n  thresholds: {meteor: 0.5}\n")
    cfg = layered(DEFAULTS, p, ["translate.concurrency=32", "shards=4", "translate.model=", "verify.thresholds.chrf=1"],
                  free=FREE)
    assert cfg == {"shards": 4, "translate": {"model": None, "concurrency": 32},
                   "verify": {"thresholds": {"meteor": 0.5, "chrf": 1}}}  # a free section is replaced whole, not merged
    assert DEFAULTS["translate"]["concurrency"] == 8  # the defaults are not touched


@pytest.mark.parametrize("sets, message", [
    (["translate.concurrenc=4"], "unknown setting 'translate.concurrenc'; did you mean 'translate.concurrency'?"),
    (["nonsense"], "--set 'nonsense': expected KEY=VALUE, e.g. section.name=VALUE"),
    (["=3"], "expected KEY=VALUE"),
    (["translate.model.x=1"], "unknown setting 'translate.model.x'"),
])
def test_overrides_refused_with_the_closest_name(sets, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        layered(DEFAULTS, None, sets, free=FREE)


def test_text_that_is_not_yaml_stays_text():
    assert layered(DEFAULTS, None, ["translate.model=[1"])["translate"]["model"] == "[1"


@pytest.mark.parametrize("text, message", [("- a\n", "expected a mapping of settings, found list"),
                                           ("a: [\n", "not valid YAML"), ("foo: 1\n", "unknown setting 'foo'")])
def test_bad_presets(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        layered(DEFAULTS, preset(tmp_path, text))


def test_missing_preset_names_the_kits_own(tmp_path):
    with pytest.raises(ConfigError, match=r"no such file \(presets: configs/a.yaml\)"):
        layered(DEFAULTS, tmp_path / "none.yaml", presets="configs/a.yaml")
