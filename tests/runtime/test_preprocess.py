"""The manifest-driven preprocessor against transformers' PIL-backend processors, on real photos.

The resize is the same ``PIL.Image.resize`` call the processors make and the normalisation a table
built with their numpy operations, so the tensors must be identical (0 levels of difference).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
from transformers import BeitImageProcessorPil, ViTImageProcessorPil

from beit_runtime.errors import ImageFormatError, InputError, ManifestError
from beit_runtime.manifest import PreprocessingRecord
from beit_runtime.preprocess import Preprocessor, aspect_preserving_size, pillow_resize

PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
PIL_CODES = {"nearest": 0, "bilinear": 2, "bicubic": 3}
IMAGENET = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
HALF = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}

RECIPES = {
    "beit-224-bilinear": ("beit", {"size": {"height": 224, "width": 224}, "resample": "bilinear", **HALF}),
    "beit-224-bicubic": ("beit", {"size": {"height": 224, "width": 224}, "resample": "bicubic", **HALF}),
    "beit-256-crop-bicubic": ("beit", {"size": {"height": 256, "width": 256}, "resample": "bicubic",
                                       "do_center_crop": True, "crop_size": {"height": 224, "width": 224}, **IMAGENET}),
    "vit-short-crop-bilinear": ("vit", {"size": {"shortest_edge": 256}, "resample": "bilinear", "do_center_crop": True,
                                         "crop_size": {"height": 224, "width": 224}, **IMAGENET}),
    "vit-short-crop-bicubic": ("vit", {"size": {"shortest_edge": 248}, "resample": "bicubic", "do_center_crop": True,
                                        "crop_size": {"height": 224, "width": 200}, **HALF}),
    "vit-short-bicubic": ("vit", {"size": {"shortest_edge": 160}, "resample": "bicubic", **HALF}),
    "vit-nearest": ("vit", {"size": {"height": 96, "width": 64}, "resample": "nearest", **HALF}),
    "crop-larger-than-image": ("beit", {"size": {"height": 32, "width": 48}, "resample": "bilinear",
                                        "do_center_crop": True, "crop_size": {"height": 40, "width": 40}, **IMAGENET}),
}


def _recipe(values: dict) -> dict:
    recipe = {"do_resize": True, "do_center_crop": False, "crop_size": None, "do_rescale": True,
              "rescale_factor": 1 / 255, "do_normalize": True, "channel_order": "rgb", "do_reduce_labels": False}
    recipe.update(values)
    return recipe


def _hf_processor(family: str, recipe: dict):
    cls = BeitImageProcessorPil if family == "beit" else ViTImageProcessorPil
    return cls(do_resize=True, size=dict(recipe["size"]), resample=PIL_CODES[recipe["resample"]],
               do_center_crop=recipe["do_center_crop"], crop_size=recipe["crop_size"], do_rescale=True,
               rescale_factor=recipe["rescale_factor"], do_normalize=True, image_mean=recipe["image_mean"],
               image_std=recipe["image_std"])


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    images = {name: np.ascontiguousarray(getattr(skimage.data, name)()) for name in PHOTO_NAMES}
    images["chelsea-crop-40x60"] = np.ascontiguousarray(images["chelsea"][50:90, 100:160])  # upscaling
    images["coffee-crop-7x5"] = np.ascontiguousarray(images["coffee"][10:17, 20:25])
    images["rocket-tall-strip"] = np.ascontiguousarray(images["rocket"][:, 300:380])
    return images


@pytest.mark.parametrize("recipe_name", sorted(RECIPES))
def test_matches_hf_pil_processor_on_photos(recipe_name, photos):
    family, values = RECIPES[recipe_name]
    recipe = _recipe(values)
    ours = Preprocessor.from_manifest(recipe)
    reference = _hf_processor(family, recipe)
    for name, image in photos.items():
        expected = reference(images=image, return_tensors="np", input_data_format="channels_last")["pixel_values"][0]
        actual = ours(image)
        assert actual.dtype == np.float32 and actual.shape == expected.shape, name
        np.testing.assert_array_equal(actual, expected, err_msg=f"{recipe_name} on {name}")


@pytest.mark.parametrize("recipe_name", ["beit-224-bicubic", "vit-short-crop-bilinear"])
def test_batch_matches_hf_pil_processor_on_a_list(recipe_name, photos):
    family, values = RECIPES[recipe_name]
    recipe = _recipe(values)
    images = [photos[name] for name in PHOTO_NAMES] * 2
    expected = _hf_processor(family, recipe)(images=images, return_tensors="np", input_data_format="channels_last")
    actual = Preprocessor.from_manifest(recipe).batch(images)
    assert actual.flags.c_contiguous
    np.testing.assert_array_equal(actual, np.asarray(expected["pixel_values"]))


def test_opencv_resize_is_not_a_substitute(photos):
    """Why the resize is Pillow's: OpenCV's bicubic/area downscale moves pixels by many levels."""
    image = photos["astronaut"]
    reference = pillow_resize(image, 224, 224, resample="bicubic")
    for interpolation in (cv2.INTER_CUBIC, cv2.INTER_AREA):
        other = cv2.resize(image, (224, 224), interpolation=interpolation)
        assert np.abs(other.astype(int) - reference).max() > 8


def test_aspect_preserving_size_follows_transformers():
    from transformers.image_transforms import get_resize_output_image_size, get_size_with_aspect_ratio

    for height, width in [(300, 451), (451, 300), (224, 224), (7, 5), (1000, 3)]:
        image = np.zeros((3, height, width), np.uint8)
        assert aspect_preserving_size(height, width, 256, None) == tuple(
            get_resize_output_image_size(image, 256, default_to_square=False, input_data_format="channels_first"))
        expected = tuple(get_size_with_aspect_ratio((height, width), 200, 300))
        assert aspect_preserving_size(height, width, 200, 300) == expected


def test_batch_stacks_mixed_sizes(photos):
    ours = Preprocessor.from_manifest(_recipe(RECIPES["beit-224-bilinear"][1]))
    batch = ours.batch([photos["astronaut"], photos["coffee-crop-7x5"], photos["rocket"]])
    assert batch.shape == (3, 3, 224, 224) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[1], ours(photos["coffee-crop-7x5"]))
    serial = ours.batch([photos["astronaut"], photos["coffee-crop-7x5"], photos["rocket"]], parallel=False)
    np.testing.assert_array_equal(serial, batch)


def test_batch_refuses_different_output_sizes(photos):
    ours = Preprocessor.from_manifest(_recipe(RECIPES["vit-short-bicubic"][1]))
    with pytest.raises(ImageFormatError, match="different sizes"):
        ours.batch([photos["astronaut"], photos["coffee"]])
    with pytest.raises(ImageFormatError, match="no images"):
        ours.batch([])


def test_no_resize_no_normalize_recipe():
    recipe = _recipe(
        {"do_resize": False, "size": {"height": 8, "width": 8}, "resample": "bilinear", "do_normalize": False, **HALF}
    )
    image = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    out = Preprocessor.from_manifest(recipe)(image)
    np.testing.assert_allclose(out, image.transpose(2, 0, 1).astype(np.float64) / 255, rtol=1e-6)


def test_from_manifest_accepts_whole_manifest_dicts():
    recipe = _recipe(RECIPES["beit-224-bicubic"][1])
    assert Preprocessor.from_manifest({"preprocessing": recipe}) == Preprocessor.from_manifest(recipe)


def test_a_parsed_preprocessing_record_builds_the_same_preprocessor():
    recipe = _recipe(RECIPES["beit-256-crop-bicubic"][1])
    record = PreprocessingRecord.from_json(recipe)
    assert Preprocessor.from_record(record) == Preprocessor.from_manifest(record) == Preprocessor.from_manifest(recipe)
    with pytest.raises(ManifestError, match="channel_order"):
        Preprocessor.from_record(PreprocessingRecord.from_json({**recipe, "channel_order": "bgr"}))


def test_the_preprocessor_assumes_no_model_recipe():
    """No 224x224 / bicubic / mean 0.5 defaults: every value comes from the artifact's manifest."""
    with pytest.raises(TypeError, match="missing"):
        Preprocessor()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="size"):
        Preprocessor(do_resize=True, resample="bicubic", do_rescale=True, rescale_factor=1 / 255,  # type: ignore[call-arg]
                     do_normalize=True, **HALF)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"resample": "lanczos"}, "resample"),
        ({"size": {"height": 224}}, "size"),
        ({"size": {"height": 0, "width": 3}}, "positive"),
        ({"do_center_crop": True, "crop_size": None}, "crop_size"),
        ({"do_center_crop": True, "crop_size": {"shortest_edge": 224}}, "crop_size"),
        ({"image_mean": [0.5, 0.5]}, "image_mean"),
        ({"image_std": [0.5, 0.0, 0.5]}, "non-zero"),
        ({"image_std": ["0.5", "0.5", "0.5"]}, "'image_std' must be a list of 3 finite numbers"),
        ({"image_mean": [0.5, "half", 0.5]}, "'image_mean' must be a list of 3 finite numbers"),
        ({"image_std": [0.5, float("nan"), 0.5]}, "'image_std' must be a list of 3 finite numbers"),
        ({"rescale_factor": float("nan")}, "'rescale_factor' must be a finite number > 0"),
        ({"rescale_factor": float("inf")}, "'rescale_factor' must be a finite number > 0"),
        ({"rescale_factor": 0}, "'rescale_factor' must be a finite number > 0"),
        ({"rescale_factor": "1/255"}, "'rescale_factor' must be a finite number > 0"),
        ({"channel_order": "bgr"}, "channel_order"),
    ],
)
def test_bad_recipes_raise_manifest_errors(change, message):
    recipe = _recipe(RECIPES["beit-224-bicubic"][1])
    recipe.update(change)
    with pytest.raises(ManifestError, match=message):
        Preprocessor.from_manifest(recipe)


def test_missing_recipe_keys():
    recipe = _recipe(RECIPES["beit-224-bicubic"][1])
    with pytest.raises(ManifestError, match="missing image_mean"):
        Preprocessor.from_manifest({k: v for k, v in recipe.items() if k != "image_mean"})


@pytest.mark.parametrize(
    "image", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 3), np.uint8), "x.jpg"]
)
def test_preprocessor_takes_decoded_rgb_only(image):
    with pytest.raises(ImageFormatError):
        Preprocessor.from_manifest(_recipe(RECIPES["beit-224-bicubic"][1]))(image)


def test_resize_rejects_bad_requests():
    with pytest.raises(InputError):
        pillow_resize(np.zeros((4, 4, 3), np.uint8), 0, 3)
    with pytest.raises(InputError):
        pillow_resize(np.zeros((4, 4, 3), np.uint8), 3, 3, resample="area")
    with pytest.raises(ImageFormatError):
        pillow_resize(np.zeros((4, 4), np.uint8), 3, 3)
