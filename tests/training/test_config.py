"""Run configurations: every rule checked once, at construction; records and resume checks."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from keras_perceptual.errors import InputError, ResumeMismatchError
from keras_perceptual.training.config import (
    PAPER_SR_STEPS,
    PAPER_STYLE_STEPS,
    RunConfig,
    StyleTransferConfig,
    SuperResolutionConfig,
)


@pytest.fixture
def style_file(tmp_path):
    path = tmp_path / "style.png"
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(path)
    return str(path)


def style_config(tmp_path, style_file, **overrides):
    return StyleTransferConfig(
        content_dir=str(tmp_path), style_image=style_file, output_dir=str(tmp_path / "run"),
        **overrides,
    )


def test_defaults_are_the_papers_and_written_once(tmp_path, style_file):
    config = style_config(tmp_path, style_file)
    assert config.steps == PAPER_STYLE_STEPS == 40_000
    assert (config.image_size, config.batch_size, config.learning_rate) == (256, 4, 1e-3)
    assert config.value_range == (0.0, 1.0) and config.loss_options == {}
    sr = SuperResolutionConfig(image_dir=str(tmp_path), output_dir=str(tmp_path / "sr"))
    assert (sr.scale, sr.patch_size, sr.steps, sr.sigma) == (4, 288, PAPER_SR_STEPS, 1.0)
    assert StyleTransferConfig.field_default("image_size") == 256


def test_frozen_and_replace_checks_again(tmp_path, style_file):
    config = style_config(tmp_path, style_file, steps=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.steps = 20
    assert dataclasses.replace(config, steps=20).steps == 20
    with pytest.raises(InputError, match="steps must be an integer >= 1"):
        dataclasses.replace(config, steps=0)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"batch_size": 2.5}, "batch_size must be an integer >= 1"),
        ({"learning_rate": -1}, "learning_rate must be a positive number"),
        ({"learning_rate": True}, "learning_rate must be a positive number"),
        ({"learning_rate": "1e-3"}, "learning_rate must be a positive number"),
        ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*31\)"),
        ({"seed": 2**31}, r"seed must be an integer in \[0, 2\*\*31\)"),
        ({"value_range": (1, 0)}, "value_range must satisfy low < high"),
        ({"weights": "nowhere.h5"}, "weights file .*nowhere.h5.* does not exist"),
        ({"loss_options": [1]}, "loss_options must be a dict"),
        ({"loss_options": {"weights": None}}, "loss_options cannot set 'weights'"),
        ({"cache": 3}, "cache must be True/False"),
        ({"jit_compile": "yes"}, "jit_compile must be True, False or 'auto'"),
        ({"content_weight": -1}, "content_weight must be a finite number >= 0"),
        ({"style_image_size": -3}, "style_image_size must be an integer >= 1"),
        ({"temporal_weight": -1}, "temporal_weight must be a finite number >= 0"),
        ({"temporal_weight": float("nan")}, "temporal_weight must be a finite number >= 0"),
        ({"temporal_weight": 1.0, "temporal_motion": "shaky"},
         "temporal_motion must be one of 'stability', 'camera'"),
        ({"temporal_motion": "camera"}, "temporal_motion is only used with temporal_weight > 0"),
    ],
)
def test_style_rules(tmp_path, style_file, overrides, message):
    with pytest.raises(InputError, match=message):
        style_config(tmp_path, style_file, **overrides)


def test_style_image_rules(tmp_path, style_file):
    with pytest.raises(InputError, match="does not exist"):
        style_config(tmp_path, str(tmp_path / "missing.jpg"))
    # The photos' folder given as the style image is named a folder, not "missing".
    with pytest.raises(InputError, match=r"style_image '.*' is a folder, not a file; pass the "
                                         r"path of an existing image file"):
        style_config(tmp_path, str(tmp_path))
    with pytest.raises(InputError, match=r"weights file '.*' is a folder, not a file"):
        style_config(tmp_path, style_file, weights=str(tmp_path))
    with pytest.raises(InputError, match="style_image is required"):
        StyleTransferConfig(content_dir=str(tmp_path), style_image=None, output_dir="o")
    # 0 and None keep the style image's size.
    assert style_config(tmp_path, style_file, style_image_size=0).style_image_size is None
    array = np.zeros((4, 4, 3), np.float32)
    config = style_config(tmp_path, array)
    assert config.identity()["style_image_sha256"] != style_config(
        tmp_path, array + 0.5
    ).identity()["style_image_sha256"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"scale": 3}, "scale must be one of 2, 4, 8"),
        ({"scale": True}, "scale must be one of 2, 4, 8"),
        ({"patch_size": 30}, "patch_size=30 is not divisible by scale=4"),
        ({"loss": "l1"}, "loss must be one of 'perceptual', 'pixel'"),
        ({"gan_options": {"adversarial_weight": 1.0}}, "gan_options is only used with gan=True"),
        ({"gan": True, "gan_options": {"discriminator_filters": 0}}, "discriminator_filters"),
        ({"sigma": -1}, "sigma must be a finite number >= 0"),
        ({"gan": 1}, "gan must be True or False"),
        ({"lpips": "yes"}, "lpips must be True or False"),
        ({"lpips": True, "weights": "hed_bsds500"}, "lpips=True measures with torchvision's"),
        ({"lpips_weights": "imagenet"}, "lpips_weights is only used with lpips=True"),
        ({"lpips": True, "lpips_weights": "gone.pth"}, "LPIPS weights file 'gone.pth' does not"),
        ({"lpips": True, "lpips_weights": 3}, "lpips_weights must be 'imagenet' or the path"),
    ],
)
def test_super_resolution_rules(tmp_path, overrides, message):
    with pytest.raises(InputError, match=message):
        SuperResolutionConfig(image_dir=str(tmp_path), output_dir=str(tmp_path / "o"), **overrides)


def test_record_round_trip_and_resume_comparison(tmp_path, style_file):
    config = style_config(tmp_path, style_file, steps=10, seed=3, model_options={"filters": 4})
    record = json.loads(json.dumps({**config.to_record(), **config.identity()}))
    assert record["steps"] == 10 and record["model_options"] == {"filters": 4}
    assert record["output_dir"] == str(tmp_path / "run")
    # Resumable fields may change; the others may not.
    grown = dataclasses.replace(config, steps=20, sample_every=5)
    assert grown.differences(record) == []
    other = dataclasses.replace(config, image_size=128)
    assert other.differences(record) == ["image_size 256 -> 128"]
    with pytest.raises(ResumeMismatchError, match="image_size 256 -> 128"):
        other.check_resumable(record)
    # None reads as what was typed or meant (it read "style_image_size None -> 256" after
    # --style-image-size 0, and "style_weight None -> 5.0" for the loss's default)
    kept = dataclasses.replace(config, style_image_size=0, style_weight=5.0)
    assert kept.differences(record) == ["style_image_size 256 -> 0 (its own size)",
                                        "style_weight (the loss's default) -> 5.0"]
    # A style image moved elsewhere is the same run; another image is not.
    moved = tmp_path / "moved.png"
    moved.write_bytes(pathlib.Path(style_file).read_bytes())
    assert dataclasses.replace(config, style_image=str(moved)).differences(record) == []
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(moved)
    assert dataclasses.replace(config, style_image=str(moved)).differences(record)[0].startswith(
        "style_image_sha256"
    )
    # A record from another version may lack or hold extra fields.
    assert config.differences({k: v for k, v in record.items() if k != "cache"} | {"old": 1}) == []


def test_every_field_documents_itself():
    for config_class in (RunConfig, StyleTransferConfig, SuperResolutionConfig):
        for field in dataclasses.fields(config_class):
            assert field.metadata.get("help"), field.name
    assert "steps" in StyleTransferConfig.resumable_fields()
    assert "batch_size" not in StyleTransferConfig.resumable_fields()


def test_recipe_functions_take_a_configuration(tmp_path, style_file):
    from keras_perceptual.training import train_style_transfer

    config = style_config(tmp_path, style_file, steps=1)
    with pytest.raises(InputError, match="pass either a StyleTransferConfig or settings"):
        train_style_transfer(config, steps=3)
    with pytest.raises(InputError, match="output_dir is required"):
        train_style_transfer(str(tmp_path), style_file)


def test_a_weights_file_may_move_but_not_change(tmp_path, style_file):
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(b"weights one")
    config = style_config(tmp_path, style_file, weights=str(weights))
    record = json.loads(json.dumps({**config.to_record(), **config.identity()}))
    assert record["weights_source"] == "file" and len(record["weights_sha256"]) == 64
    moved = tmp_path / "elsewhere.weights.h5"
    moved.write_bytes(b"weights one")
    assert dataclasses.replace(config, weights=str(moved)).differences(record) == []
    moved.write_bytes(b"weights two")
    assert dataclasses.replace(config, weights=str(moved)).differences(record)[0].startswith(
        "weights_sha256"
    )
    assert dataclasses.replace(config, weights=None).differences(record)[0].startswith(
        "weights_source 'file' -> None"
    )


def test_the_loss_network_weights_are_resolved_for_the_backbone_the_loss_uses(tmp_path, style_file):
    from keras_perceptual.training.recipes import StyleTransferRecipe, SuperResolutionRecipe
    from keras_perceptual.training.trainer import weights_record

    vgg19 = StyleTransferRecipe(style_config(tmp_path, style_file,
                                             loss_options={"backbone": "vgg19"}))  # fmt: skip
    assert vgg19.loss_backbone() == "vgg19"
    assert StyleTransferRecipe(style_config(tmp_path, style_file)).loss_backbone() == "vgg16"
    pixel = SuperResolutionConfig(image_dir=str(tmp_path), output_dir="o", loss="pixel")
    assert SuperResolutionRecipe(pixel).loss_backbone() is None
    record = weights_record(None, "vgg19")
    assert record["backbone"] == "vgg19" and record["file"] is None
    with pytest.raises(InputError, match="hed_bsds500' holds a VGG16 backbone only"):
        weights_record("hed_bsds500", "vgg19")
    assert "not used" in weights_record("imagenet", None)["description"]


def test_temporal_settings_default_to_off_and_to_temporal_consistencys_motion(tmp_path, style_file):
    import inspect

    from keras_perceptual.losses import TemporalConsistency

    config = style_config(tmp_path, style_file)
    motion = inspect.signature(TemporalConsistency).parameters["motion"].default
    assert (config.temporal_weight, config.temporal_motion) == (0.0, motion)
    stable = style_config(tmp_path, style_file, temporal_weight=1e5, temporal_motion="camera")
    assert (stable.temporal_weight, stable.temporal_motion) == (1e5, "camera")
    record = json.loads(json.dumps(stable.to_record()))
    assert record["temporal_weight"] == 1e5 and record["temporal_motion"] == "camera"
    # Both change what is trained: a resume with another value is refused.
    assert dataclasses.replace(stable, temporal_weight=1e4).differences(record) == [
        "temporal_weight 100000.0 -> 10000.0"
    ]
    # A record written before the fields existed still resumes (no temporal term then).
    older = {k: v for k, v in record.items() if not k.startswith("temporal")}
    assert style_config(tmp_path, style_file).differences(older) == []


def test_super_resolution_reports_lpips_when_asked(tmp_path):
    from keras_perceptual.metrics import LPIPS
    from keras_perceptual.training.recipes import SuperResolutionRecipe

    def metrics(**overrides):
        config = SuperResolutionConfig(image_dir=str(tmp_path), output_dir="o", **overrides)
        return SuperResolutionRecipe(config).metrics()

    assert [m.name for m in metrics()] == ["psnr", "ssim"]
    reported = metrics(lpips=True, weights=None, value_range=(-1, 1))
    assert [m.name for m in reported] == ["psnr", "ssim", "lpips"]
    assert isinstance(reported[-1], LPIPS)
    assert {k: reported[-1].get_config()[k] for k in ("net", "weights", "value_range")} == {
        "net": "alex", "weights": None, "value_range": [-1.0, 1.0]}
    # Offline with the stand-in loss network: LPIPS's AlexNet from its own file (a converted
    # random AlexNet here), independent of the loss network's weights.
    from keras_perceptual.torchvision_backbones import (
        torchvision_backbone,
        torchvision_layer_names,
    )

    alexnet = tmp_path / "alexnet.weights.h5"
    every_layer = [torchvision_layer_names("alexnet")[-1]]
    torchvision_backbone("alexnet", every_layer, weights=None).save_weights(alexnet)
    own = metrics(lpips=True, weights="hed_bsds500", lpips_weights=str(alexnet))[-1]
    assert own.get_config()["weights"] == str(alexnet)


#: The recipe functions' parameters as they were written by hand (before their signatures
#: were made from the configuration classes): names, order and kinds must not change.
_HAND_WRITTEN_PARAMETERS = {
    "train_style_transfer": (
        "content_dir style_image * output_dir steps image_size batch_size learning_rate "
        "style_image_size content_weight style_weight tv_weight temporal_weight temporal_motion "
        "loss_options model_options weights value_range strategy seed save_every sample_every "
        "cache jit_compile precision callbacks verbose"
    ),
    "train_super_resolution": (
        "image_dir scale * output_dir steps patch_size batch_size learning_rate loss tv_weight "
        "loss_options model_options gan gan_options sigma weights value_range strategy seed "
        "save_every sample_every cache jit_compile precision callbacks verbose lpips "
        "lpips_weights"
    ),
    "train_multi_style": (
        "content_dir style_images * output_dir steps image_size batch_size learning_rate "
        "style_image_size content_weight style_weight tv_weight style_learning_rate_multiplier "
        "loss_options model_options "
        "weights value_range strategy seed save_every sample_every cache jit_compile precision "
        "callbacks verbose"
    ),
    "train_arbitrary_style": (
        "content_dir style_dir * output_dir steps image_size batch_size learning_rate "
        "style_image_size backbone content_weight style_weight loss_options model_options "
        "weights value_range strategy seed save_every sample_every cache jit_compile precision "
        "callbacks verbose"
    ),
}


_CONFIG_CLASSES = {
    "train_style_transfer": "StyleTransferConfig",
    "train_super_resolution": "SuperResolutionConfig",
    "train_multi_style": "MultiStyleConfig",
    "train_arbitrary_style": "ArbitraryStyleConfig",
}


@pytest.mark.parametrize("name", sorted(_HAND_WRITTEN_PARAMETERS))
def test_recipe_signatures_are_the_configurations_fields(name):
    import inspect
    import pydoc

    from keras_perceptual import training
    from keras_perceptual.training import Trainer

    function = getattr(training, name)
    signature = inspect.signature(function)
    positional, _, keywords = _HAND_WRITTEN_PARAMETERS[name].partition(" * ")
    expected = [(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in positional.split()]
    expected += [(n, inspect.Parameter.KEYWORD_ONLY) for n in keywords.split()]
    assert [(n, p.kind) for n, p in signature.parameters.items()] == expected
    assert signature.return_annotation == "TrainingResult"
    assert f"{name}{signature}" in pydoc.render_doc(function, renderer=pydoc.plaintext)
    # Real defaults: the configuration's (or the Trainer's), never a sentinel.
    config_class = getattr(training, _CONFIG_CLASSES[name])
    trainer = inspect.signature(Trainer).parameters
    for parameter in signature.parameters.values():
        if parameter.name in trainer:
            assert parameter.default == trainer[parameter.name].default
            continue
        default = config_class.field_default(parameter.name)
        if default is dataclasses.MISSING:
            assert parameter.default is inspect.Parameter.empty, parameter.name
        else:
            assert parameter.default == default, parameter.name


def test_recipe_functions_refuse_unknown_keywords_naming_the_closest(tmp_path, style_file):
    from keras_perceptual.training import train_multi_style, train_style_transfer

    with pytest.raises(TypeError, match=r"unexpected keyword argument 'stepz'; did you mean 'steps'"):
        train_style_transfer(str(tmp_path), style_file, output_dir=str(tmp_path), stepz=3)
    # A field the function does not take (multi-style has no temporal term) stays refused.
    with pytest.raises(TypeError, match="train_multi_style.. got an unexpected keyword argument"):
        train_multi_style(str(tmp_path), [style_file] * 2, temporal_weight=1.0)
    with pytest.raises(InputError, match="style_images is required"):
        train_multi_style(str(tmp_path), output_dir=str(tmp_path / "run"))
    # Positional calls behave as a plain Python function's.
    with pytest.raises(TypeError, match="takes from 1 to 2 positional arguments but 3 were given"):
        train_style_transfer(str(tmp_path), style_file, str(tmp_path / "run"))
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'content_dir'"):
        train_style_transfer()
    with pytest.raises(InputError, match="style_image is required"):
        train_style_transfer(str(tmp_path), output_dir=str(tmp_path / "run"))


def test_recipe_signatures_show_what_paths_accept():
    """A path is stored as str (config.json unchanged) but given as str or os.PathLike: the
    signature shows the latter (it showed ``output_dir: str``)."""
    import inspect
    import pathlib

    from keras_perceptual import training

    for name, first in (("train_style_transfer", "content_dir"), ("train_super_resolution", "image_dir"),
                        ("train_multi_style", "content_dir"), ("train_arbitrary_style", "style_dir")):
        parameters = inspect.signature(getattr(training, name)).parameters
        assert parameters["output_dir"].annotation == "str | os.PathLike", name
        assert parameters["cache"].annotation == "bool | str | os.PathLike", name
        assert parameters["weights"].annotation == "str | os.PathLike | None", name
        assert parameters[first].annotation == "str | os.PathLike | ScanResult", name
        assert parameters["steps"].annotation == "int", name  # the stored type where it is what is accepted
    # The stored values keep their types.
    config = training.SuperResolutionConfig(image_dir=pathlib.Path("photos"),
                                            output_dir=pathlib.Path("run"), cache=pathlib.Path("c"))
    assert isinstance(config.output_dir, str) and isinstance(config.image_dir, str)
    assert config.cache == "c"
    fields = {f.name: f.type for f in dataclasses.fields(training.SuperResolutionConfig)}
    assert fields["output_dir"] == "str" and fields["cache"] == "bool | str"


@pytest.mark.parametrize(
    "recipe, overrides, message",
    [
        # A misspelt key was TypeError from the network or loss, after the data was scanned.
        ("style", {"loss_options": {"contnt_layers": "relu1_2"}},
         r"loss_options has 'contnt_layers', which PerceptualLoss does not take; did you mean "
         r"'content_layers'\? loss_options may hold: backbone, backbone_dtype, .*"),
        ("style", {"model_options": {"filtrs": 8}},
         "model_options has 'filtrs', which style_transfer_net does not take; did you mean "
         "'filters'"),
        ("style", {"loss_options": {"xyzzy": 1}},
         r"'xyzzy', which PerceptualLoss does not take\. loss_options may hold"),
        ("style", {"loss_options": {1: 2}}, "loss_options keys must be argument names"),
        # A setting the recipe makes was silently overridden, or overrode the recipe's own:
        # model_options={"value_range": (0, 255)} built a network of [0, 255] outputs for a
        # loss of [0, 1] images; loss_options={"style_weight": 2} lost to style_weight=.
        ("style", {"model_options": {"value_range": (0, 255)}},
         r"model_options cannot set 'value_range': the recipe sets it itself; pass "
         r"value_range= to the recipe instead\. Received: model_options\['value_range'\]"),
        ("style", {"loss_options": {"style_weight": 2.0}},
         "loss_options cannot set 'style_weight'.* pass style_weight= to the recipe"),
        ("style", {"loss_options": {"reduction": "sum"}},
         "loss_options cannot set 'reduction': the recipe sets it itself; leave it out"),
        ("multi", {"model_options": {"num_styles": 3}},
         "model_options cannot set 'num_styles'.* leave it out"),
        ("multi", {"model_options": {"normalization": "batch"}},
         "model_options has 'normalization', which multi_style_transfer_net does not take"),
        ("arbitrary", {"loss_options": {"distnce": "l1"}},
         "loss_options has 'distnce', which AdaINLoss does not take; did you mean 'distance'"),
        ("arbitrary", {"loss_options": {"style_weight": 1.0}},
         "loss_options cannot set 'style_weight'"),
        ("arbitrary", {"model_options": {"weights": None}}, "model_options cannot set 'weights'"),
        ("sr", {"model_options": {"scale": 8}},
         "model_options cannot set 'scale'.* pass scale= to the recipe instead"),
        ("sr", {"loss_options": {"tv_weight": 1.0}}, "loss_options cannot set 'tv_weight'"),
        ("sr", {"gan": True, "gan_options": {"adversarial_weigth": 1.0}},
         "gan_options has 'adversarial_weigth', which PerceptualGAN.compile does not take; "
         "did you mean 'adversarial_weight'"),
        ("sr", {"gan": True, "gan_options": {"metrics": []}},
         "gan_options cannot set 'metrics': the recipe sets it itself; leave it out"),
        ("sr", {"gan": True, "gan_options": {"jit_compile": False}},
         "gan_options cannot set 'jit_compile'.* pass jit_compile= to the recipe"),
    ],
)
def test_options_dicts_hold_only_what_their_target_takes_and_the_recipe_does_not_set(
    tmp_path, style_file, recipe, overrides, message
):
    from keras_perceptual.training.config import ArbitraryStyleConfig, MultiStyleConfig

    common = {"output_dir": str(tmp_path / "run"), **overrides}
    build = {
        "style": lambda: style_config(tmp_path, style_file, **overrides),
        "multi": lambda: MultiStyleConfig(content_dir=str(tmp_path),
                                          style_images=[style_file, style_file], **common),
        "arbitrary": lambda: ArbitraryStyleConfig(content_dir=str(tmp_path),
                                                  style_dir=str(tmp_path), **common),
        "sr": lambda: SuperResolutionConfig(image_dir=str(tmp_path), **common),
    }[recipe]  # fmt: skip
    with pytest.raises(InputError, match=message):
        build()


def test_options_dicts_take_what_their_target_takes(tmp_path, style_file):
    from keras_perceptual.training.config import ArbitraryStyleConfig

    loss = {"content_layers": "relu1_2", "backbone_dtype": "float32", "style_distance": "mse"}
    config = style_config(tmp_path, style_file, loss_options=loss,
                          model_options={"filters": 8, "upsampling": "resize"})  # fmt: skip
    assert config.loss_options == loss and config.model_options["filters"] == 8
    gan = {"adversarial_weight": 1e-2, "discriminator_filters": 8, "steps_per_execution": 2}
    config = SuperResolutionConfig(image_dir=str(tmp_path), output_dir=str(tmp_path / "sr"),
                                   gan=True, gan_options=gan)  # fmt: skip
    assert config.gan_options == gan
    config = ArbitraryStyleConfig(content_dir=str(tmp_path), style_dir=str(tmp_path),
                                  output_dir=str(tmp_path / "a"),
                                  loss_options={"distance": "l2"})  # fmt: skip
    assert config.loss_options == {"distance": "l2"}


def test_a_changed_dictionary_field_is_named_by_key(tmp_path, style_file):
    # Before: "model_options {'filters': 4, 'num_residual_blocks': 1} -> {'filters': 8, ...}",
    # which the command line could not turn into "--filters 4 -> 8".
    config = style_config(tmp_path, style_file, model_options={"filters": 4, "num_residual_blocks": 1})
    record = json.loads(json.dumps(config.to_record()))
    wider = dataclasses.replace(config, model_options={"filters": 8})
    assert wider.differences(record) == [
        "model_options['filters'] 4 -> 8", "model_options['num_residual_blocks'] 1 -> (default)",
    ]


def test_a_photo_given_as_the_folder_of_photos_is_refused_at_once(tmp_path, style_file):
    # Before: accepted here, then the scan said "(use load_image for a single file)", words
    # of the Python API that the command line showed too.
    with pytest.raises(InputError, match=r"content_dir must be a folder of images, not a file \(to "
                       r"train on one photo, put it in a folder of its own\)\. Received: "
                       r"content_dir='.*style\.png'"):
        StyleTransferConfig(content_dir=style_file, style_image=style_file,
                            output_dir=str(tmp_path / "run"))  # fmt: skip
    with pytest.raises(InputError, match="image_dir must be a folder of images, not a file"):
        SuperResolutionConfig(image_dir=style_file, output_dir=str(tmp_path / "sr"))


def test_the_output_folder_cannot_be_the_folder_of_training_images(tmp_path, style_file):
    # Before: accepted; the samples written there were scanned as training photos on resume
    # (4 photos, then 8, then 10).
    with pytest.raises(InputError, match=r"output_dir is the folder of training images "
                       r"content_dir: the samples .* read back .*pass another output folder"):
        StyleTransferConfig(content_dir=str(tmp_path), style_image=style_file,
                            output_dir=str(tmp_path / "x" / ".."))  # fmt: skip
    with pytest.raises(InputError, match="output_dir is the folder of training images image_dir"):
        SuperResolutionConfig(image_dir=str(tmp_path), output_dir=str(tmp_path) + "/")
    # inside it is fine: the scan leaves the output folder out
    style_config(tmp_path, style_file)
