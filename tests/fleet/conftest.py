"""The fleet fixture: API + 2 workers on S3 (moto, through a proxy a test can stop), PostgreSQL and
a Redis of the fleet's own (tests/fleet/cluster.py). Leases, retry delays and reconciler passes
are seconds instead of minutes, so faults heal quickly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.services import TcpProxy, start_redis

from .cluster import VITRINE3D, Fleet, fleet_env

@pytest.fixture
def fleet(tmp_path: Path, s3_server, postgres_url: str, bucket: str):
    """API + 2 workers, on S3 (through a proxy), PostgreSQL and a Redis of the fleet's own."""
    assert VITRINE3D.is_file(), f"{VITRINE3D} is missing: run `make setup`"
    redis = start_redis(tmp_path)
    proxy = TcpProxy(int(s3_server.url.rsplit(":", 1)[1]))
    proxy.start()
    env = fleet_env(postgres_url, bucket, proxy.url, redis.url)
    fleet = Fleet(tmp_path, env, redis, proxy, bucket, s3_server.url)
    try:
        fleet.start_api()
        fleet.start_worker("worker-a")
        fleet.start_worker("worker-b")
        yield fleet
    finally:
        fleet.close()
        proxy.stop()
        fleet.redis.stop()
