"""``firegate desk -c desk.yaml``: the MQTT link, the command dispatcher, the live-update hub and
the web server (uvicorn) on one event loop."""

from __future__ import annotations

import asyncio
import logging
import os

import uvicorn

from gateway.desk.app import Hub, build_app, session_key
from gateway.desk.bus import DeskBus
from gateway.desk.config import DeskConfig
from gateway.desk.store import DeskStore

log = logging.getLogger("firegate.desk")


def open_store(cfg: DeskConfig) -> DeskStore:
    data_dir = cfg.desk.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o750)
    return DeskStore(data_dir / "desk.sqlite")


async def run_desk(cfg: DeskConfig) -> int:
    store = open_store(cfg)
    hub = Hub()
    bus = DeskBus(cfg, store, hub.changed)
    app = build_app(cfg, store, bus, hub, session_key(cfg.desk.data_dir))
    server = uvicorn.Server(uvicorn.Config(
        app, host=cfg.desk.host, port=cfg.desk.port, log_level="warning", access_log=False,
        timeout_graceful_shutdown=2, lifespan="off", proxy_headers=False,
        ssl_certfile=str(cfg.desk.tls_cert) if cfg.desk.tls_cert else None,
        ssl_keyfile=str(cfg.desk.tls_key) if cfg.desk.tls_key else None))
    scheme = "https" if cfg.desk.tls_cert else "http"
    log.info(f"desk listening on {scheme}://%s (data in %s)", cfg.desk.listen, cfg.desk.data_dir)
    tasks = [asyncio.create_task(c) for c in (bus.run(), bus.dispatcher(), bus.watchdog(),
                                                    hub.run())]
    try:
        await server.serve()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        store.close()
    return 0
