"""The AIMET recipe layer: the only package that imports aimet_*."""
