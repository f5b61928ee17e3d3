"""One insecure client shared by threads, as the embedded executor shares it."""

from __future__ import annotations

import io
import threading
import warnings
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import InsecureRequestWarning

from syncer.registry.client import RegistryClient

pytestmark = pytest.mark.integration


class _GatedAdapter(HTTPAdapter):
    """Answers 200 after warning as urllib3 does for ``verify=False``; ``/a`` and ``/b``
    each wait for their own gate first, so the test controls the interleaving."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = {"a": threading.Event(), "b": threading.Event()}
        self.release = {"a": threading.Event(), "b": threading.Event()}

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        name = (request.url or "").rsplit("/", 1)[-1]
        if name in self.entered:
            self.entered[name].set()
            assert self.release[name].wait(10)
        warnings.warn("Unverified HTTPS request", InsecureRequestWarning, stacklevel=1)
        resp = requests.Response()
        resp.status_code, resp.url, resp.request = 200, request.url or "", request
        resp.headers = CaseInsensitiveDict({"Content-Length": "0"})
        resp._content = b""
        resp.raw = io.BytesIO(b"")  # the client streams every response
        return resp


def test_insecure_warning_stays_suppressed_across_threads() -> None:
    adapter = _GatedAdapter()
    session = requests.Session()
    session.mount("https://", adapter)
    errors: dict[str, BaseException] = {}

    def call(name: str) -> None:
        try:
            client.request("GET", f"/{name}", (), what=name).close()
        except BaseException as exc:  # reported by the assertion below
            errors[name] = exc

    # As under pytest's -W error; the client is made afterwards, so a fix that installs
    # its own filter when an insecure client is created takes precedence.
    with warnings.catch_warnings():
        warnings.simplefilter("error", InsecureRequestWarning)
        client = RegistryClient("registry.test:443", insecure=True, session=session)
        assert client.base_url == "https://registry.test:443"
        a = threading.Thread(target=call, args=("a",))
        b = threading.Thread(target=call, args=("b",))
        a.start()
        assert adapter.entered["a"].wait(10)  # a is inside its catch_warnings block
        b.start()
        assert adapter.entered["b"].wait(10)  # so is b, having saved a's filters
        adapter.release["a"].set()
        a.join(10)  # a leaves, restoring the filters from before it: "error"
        adapter.release["b"].set()
        b.join(10)
        client.close()
    assert errors == {}
