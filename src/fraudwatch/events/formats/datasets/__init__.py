"""Public fraud datasets as source formats: bring your own history from the datasets the field uses.

Importing this package registers `ulb`, `handbook`, `sparkov`, `paysim` and `ieee-cis` (see
docs/formats-datasets.md). Each maps a dataset's rows to canonical `Transaction` events and its
fraud column to dataset `Label` events, streaming the file in constant memory.
"""

from fraudwatch.events.formats.datasets import handbook, ieee_cis, paysim, sparkov, ulb

__all__ = ["handbook", "ieee_cis", "paysim", "sparkov", "ulb"]
