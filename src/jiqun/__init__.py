"""jiqun (集群): operations platform for parcel carriers in e-commerce cluster markets."""

__version__ = "0.1.0"
