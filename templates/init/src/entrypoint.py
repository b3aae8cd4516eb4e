"""Customers who placed orders, counted per segment.

AWS Clean Rooms calls entrypoint(context) with:
  context["sparkSession"]        the SparkSession of the job
  context["referencedTables"]    {table name: DataFrame} for the tables in crpack.toml
  context["analysisParameters"]  {parameter name: str} for the parameters in crpack.toml
and expects {"results": {output name: DataFrame}} back.
"""

from analysis_helpers import customers_per_segment


def entrypoint(context):
    tables = context["referencedTables"]
    orders = tables["orders"]
    customers = tables["customers"]
    # Parameters arrive as strings; never splice them into SQL or paths.
    min_customers = int(context["analysisParameters"]["min_customers"])
    overlap = customers_per_segment(orders, customers, min_customers)
    return {"results": {"overlap": overlap}}
