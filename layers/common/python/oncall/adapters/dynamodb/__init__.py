"""DynamoDB adapters: one store per table, its keys, item shapes and access patterns documented in its module, every
one built on the kit (``kit``: client, codecs, conditional writes, transactions)."""
