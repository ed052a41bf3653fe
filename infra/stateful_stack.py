"""The stateful stack: everything that holds data. Retained, termination-protected, fixed logical IDs."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from infra.constructs.ledger import Ledger
from infra.constructs.storage import Storage


class StatefulStack(Stack):
    """Key, buckets and tables. The pipeline stack receives them as constructor arguments."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        capture_retention_days: int = 90,
        drift_records: bool = False,
        **kwargs: Any,
    ) -> None:
        """``capture_retention_days``: how long the data bucket keeps captured predictions (Storage);
        ``drift_records``: drift monitoring is on, so its request records expire (Storage)."""
        super().__init__(scope, construct_id, termination_protection=True, **kwargs)
        self.storage = Storage(
            self, "Storage", capture_retention_days=capture_retention_days, drift_records=drift_records
        )
        self.ledger = Ledger(self, "Ledger", key=self.storage.key)
