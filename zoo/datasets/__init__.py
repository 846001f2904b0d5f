"""Datasets: each yields (image tensor, label set) pairs with a model's preprocessing."""
