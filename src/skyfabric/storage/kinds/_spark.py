"""What the store kinds share for Spark settings (`StoreKind.spark_settings`)."""

from __future__ import annotations

__all__ = ["spark_env_ref"]


def spark_env_ref(var: str) -> str:
    """``${env.VAR}``: Hadoop's ``Configuration`` expands it in every ``spark.hadoop.*`` value,
    so the secret itself is never written."""
    return "${env." + var + "}"
