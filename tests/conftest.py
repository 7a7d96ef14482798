from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # Everything we ship runs on asyncio (uvicorn, aiosmtplib); trio would only double the run time.
    return "asyncio"
