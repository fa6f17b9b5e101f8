"""Config composition: experiments override the top-level keys and the groups."""

from test_zoo import compose_cfg


def test_experiment_overrides_top_level_keys_and_groups():
    cfg = compose_cfg("experiment=camvid_fcn8s_cpu")
    assert list(cfg.tags) == ["camvid", "fcn8s", "cpu"]
    assert cfg.data.name == "camvid" and list(cfg.data.crop_size) == [180, 240]
    assert list(cfg.model.net.head.skips) == ["c4", "c3"]
    assert cfg.model.optimizer.lr == 0.002 and cfg.trainer.max_epochs == 10


def test_defaults_compose():
    cfg = compose_cfg()
    assert cfg.model.crf is None and cfg.data.name == "synthetic"
    assert cfg.model.net.backbone.width == 0.125 and cfg.trainer.max_epochs == 15
