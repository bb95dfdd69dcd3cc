"""Synthetic demo province grounded in the seed article's figures."""
