"""A server that silently closes a kept-alive connection must not fail an idempotent control call.

llama.cpp's llama-server did this on the H100 right after a streamed completion: aiohttp reused
the pooled connection for /tokenize and got "Server disconnected". The engine retries once.
"""

import asyncio
import json

from tokbench.engines.openai_http import OpenAIEngine


async def _serve_once_per_connection(reader, writer, counter):
    # Answer one request and promise keep-alive; when the client sends its next request on this
    # connection, close without answering: what a server does when it drops an idle kept-alive
    # connection just as the client reuses it.
    head = await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(_content_length(head))
    counter.append(1)
    body = json.dumps({"tokens": [1, 2, 3]}).encode()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    await writer.drain()
    try:
        await reader.read(1)  # the client reuses the connection...
    finally:
        writer.close()  # ...and finds it closed


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def test_tokenize_survives_a_closed_keepalive_connection():
    async def main():
        counter: list[int] = []
        server = await asyncio.start_server(lambda r, w: _serve_once_per_connection(r, w, counter), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        eng = OpenAIEngine(f"http://127.0.0.1:{port}/v1", model="m")
        import aiohttp

        eng._session = aiohttp.ClientSession()
        try:
            eng.flavor = "llama.cpp"
            first = await eng._post_json(f"{eng.root}/tokenize", {"content": "a"})
            await asyncio.sleep(0.2)  # the server has closed the pooled connection by now
            second = await eng._post_json(f"{eng.root}/tokenize", {"content": "b"})
        finally:
            await eng._session.close()
            server.close()
            await server.wait_closed()
        return first, second, len(counter)

    first, second, served = asyncio.run(main())
    assert first == second == {"tokens": [1, 2, 3]}
    assert served == 2  # the second call was answered on a fresh connection
