"""Metric definitions: unit and direction, shared by the gate and the reports."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    """A metric's unit and direction, and the tolerances a first --update-expected writes for it.

    ``max_drop``/``max_gain``: one-sided bounds on the quantized value, in the metric's unit; an entry
    states its own where the sample count or the measured noise calls for others. The FP32 check's
    default, ``fp32_tol``, is a hundredth of ``max_drop``: FP32 changes when the data, the checkpoint or
    the preprocessing does, by far more than that, while recomputing it under 1 or 2 threads or with
    AVX2 instead of AVX-512 kernels moved no embedded FP32 value by more than 1e-6 of it
    (benchmarks/noise.py, docs/noise/)."""

    name: str
    unit: str
    max_drop: float
    max_gain: float | None = None
    higher_is_better: bool = True
    description: str = ""
    proportion: bool = False  # a percentage of samples: binomial intervals apply on a subset

    @property
    def fp32_tol(self) -> float:
        return self.max_drop / 100

    def default_tolerances(self, has_fp32: bool) -> dict:
        found = {"max_drop": self.max_drop}
        if self.max_gain is not None:
            found["max_gain"] = self.max_gain
        if has_fp32:
            found["fp32_tol"] = self.fp32_tol
        return found


# COCOeval's twelve box numbers (zoo.metrics.coco.BBOX_STATS), as the seed's RetinaNet table lists them
_BBOX_STATS = {
    "ap": "AP@[.5:.95] all areas, 100 dets", "ap50": "AP@.5", "ap75": "AP@.75", "ap_small": "AP@[.5:.95] small",
    "ap_medium": "AP@[.5:.95] medium", "ap_large": "AP@[.5:.95] large", "ar1": "AR@[.5:.95] 1 det",
    "ar10": "AR@[.5:.95] 10 dets", "ar100": "AR@[.5:.95] 100 dets", "ar_small": "AR@[.5:.95] small",
    "ar_medium": "AR@[.5:.95] medium", "ar_large": "AR@[.5:.95] large",
}

METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("top1", "%", 1.0, 2.0, proportion=True, description="top-1 accuracy against the sample's label set"),
        MetricInfo("top5", "%", 1.0, 2.0, proportion=True, description="top-5 accuracy against the sample's label set"),
        MetricInfo("agreement_top1", "%", 10.0, proportion=True, description="quantized top-1 equals FP32 top-1"),
        MetricInfo("sqnr_db", "dB", 1.0, 3.0, description="SQNR of quantized vs FP32 outputs"),
        MetricInfo("map_voc07", "%", 1.0, 2.0,
                   description="VOC2007 11-point mAP at IoU>0.5 (+1 px IoU, difficult ignored)"),
        MetricInfo("map_voc", "%", 1.0, 2.0, description="VOC all-point mAP (area under precision envelope) at IoU>0.5"),
        MetricInfo("miou", "%", 1.0, 2.0, description="mean IoU from the dataset confusion matrix, 255 ignored"),
        MetricInfo("pixel_acc", "%", 1.0, 2.0, description="pixel accuracy over non-ignored pixels"),
        MetricInfo("agreement_pixels", "%", 2.0,
                   description="pixels whose quantized class equals FP32's (mean over images)"),
        # fractions in [0, 1] as COCOeval and the seed report them
        MetricInfo("kp_ap", "", 0.01, 0.03, description="COCO keypoint AP@[.5:.95] (OKS)"),
        MetricInfo("kp_ar", "", 0.01, 0.03, description="COCO keypoint AR@[.5:.95] (OKS)"),
        *(MetricInfo(f"bbox_{name}", "", 0.01, 0.03, description=f"COCO box {text} (COCOeval iouType='bbox')")
          for name, text in _BBOX_STATS.items()),
        MetricInfo("psnr_y", "dB", 0.1, 0.5, description="PSNR on BT.601 Y, borders shaved by the scale"),
        MetricInfo("ssim_y", "", 0.005, 0.02, description="SSIM on BT.601 Y (11x11 Gaussian, sigma 1.5), borders shaved"),
        MetricInfo("wer", "%", 0.5, 2.0, higher_is_better=False,
                   description="corpus WER: word edits / reference words"),
        MetricInfo("wer_vs_fp32", "%", 2.0, higher_is_better=False,
                   description="corpus WER of the quantized transcripts against the FP32 transcripts"),
    )
}


def metric_info(name: str) -> MetricInfo:
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {sorted(METRICS)} (zoo/metrics/__init__.py)") from None
