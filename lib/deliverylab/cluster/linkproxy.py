"""A TCP relay that holds every byte for a fixed time, each way: the slow link of a network fault.

This machine kind has no ``tc`` delay (netem is not in its kernel), so a slow link is a relay in
the path: cluster/network.py redirects chosen brokers' new connections to one broker's port here
(nftables NAT, matched by the connecting broker's cgroup) and this process forwards them to the
real port, ``delay_ms / 2`` later in each direction, so a request-and-answer takes ``delay_ms``
longer. Bytes keep their order; nothing is dropped.

Run as ``python -m deliverylab.cluster.linkproxy TARGET_PORT DELAY_MS``: it prints the port it
listens on (127.0.0.1) and relays until killed; it dies with the process that started it.
"""
from __future__ import annotations

import asyncio
import signal
import sys

CHUNK = 1 << 16


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    """Copy reader to writer, each chunk written `delay_s` after it was read (order kept)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        try:
            while data := await reader.read(CHUNK):
                queue.put_nowait((loop.time() + delay_s, data))
        except ConnectionError:
            pass
        queue.put_nowait((loop.time() + delay_s, b""))  # end of stream, delayed like the data

    async def write() -> None:
        while True:
            due, data = await queue.get()
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            if not data:
                break
            writer.write(data)
            await writer.drain()

    reading = asyncio.ensure_future(read())
    try:
        await write()
    except ConnectionError:
        pass
    finally:
        reading.cancel()
        writer.close()


async def _serve(target_port: int, delay_ms: float) -> None:
    one_way = delay_ms / 2000.0

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, server_w, one_way), _pipe(server_r, client_w, one_way),
                             return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    from .processes import die_with_parent

    die_with_parent(signal.SIGKILL)  # a relay never outlives the run that made the slow link
    asyncio.run(_serve(int(argv[0]), float(argv[1])))


if __name__ == "__main__":
    main(sys.argv[1:])
