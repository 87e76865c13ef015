"""What the product logs, as the log group would receive it: every line the product's one logger
(``oncall.observability.log``) writes, formatted by its own JSON formatter, at every level."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def product_logs() -> Iterator[io.StringIO]:
    from oncall.observability import log

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(log.registered_formatter)
    logger = logging.getLogger(log.name)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
