"""Helpers shipped in the template's bundle (importable from bundle.zip)."""

from pyspark.sql import functions as F


def customers_per_segment(orders, customers, min_customers):
    """Distinct ordering customers and revenue per segment, keeping segments with at least
    `min_customers` customers."""
    joined = orders.join(customers, on="customer_id", how="inner")
    per_segment = joined.groupBy("segment").agg(
        F.countDistinct("customer_id").alias("customers"),
        F.sum("amount").alias("revenue"),
    )
    return per_segment.where(F.col("customers") >= min_customers).orderBy("segment")
