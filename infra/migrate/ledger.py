"""Which of our objects each source object became: the importer's memory, so a second run matches instead of
creating twice (docs/architecture.md, "Importing").

Items live in the catalog table beside the objects they name, one partition per source: ``IMPORT#<source>`` /
``<kind>#<source id>`` → ``our_id``. They carry no ``kind`` attribute, so no list or index of the product sees them.
A record is written right after the object it names; a run cut between the two finds the object again by name (or
email) and writes the record then.
"""

from __future__ import annotations

from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import s


class Ledger:
    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client or kit.client()

    def load(self, source: str) -> dict[tuple[str, str], str]:
        """Every record of ``source``: (kind, source id) → our id (one query, read once per run)."""
        out: dict[tuple[str, str], str] = {}
        for item in kit.query_all(
            self.client,
            TableName=self.table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": s(f"IMPORT#{source}")},
            ConsistentRead=True,
        ):
            kind, _, source_id = str(item["sk"]["S"]).partition("#")
            out[(kind, source_id)] = str(item["our_id"]["S"])
        return out

    def record(self, source: str, kind: str, source_id: str, our_id: str) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={**kit.key(f"IMPORT#{source}", f"{kind}#{source_id}"), "our_id": s(our_id)},
        )
