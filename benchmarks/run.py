"""``make bench``: run every benchmark with its default size and print its table."""

from __future__ import annotations

from benchmarks import import_waybills


def main() -> None:
    import_waybills.main([])


if __name__ == "__main__":
    main()
