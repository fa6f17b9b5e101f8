"""What every head checks about the backbone it is given."""

from __future__ import annotations


def feature_channels(channels: dict[str, int], feature: str, head: str) -> int:
    """Channels of the backbone feature a head reads, or an error naming both."""
    if feature not in channels:
        raise ValueError(
            f"{head} head reads feature '{feature}', but the backbone gives {sorted(channels)}"
        )
    return channels[feature]
