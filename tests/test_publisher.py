"""The publisher posts each event to the broker over reused HTTP/1.1 connections."""

from __future__ import annotations

import datetime
import ipaddress
import threading
from pathlib import Path

import pytest

from knargo.contract.cloudevent import encode
from knargo.contract.errors import BrokerUnavailable
from knargo.contract.events import Envelope
from knargo.io.network import Publisher, RetryPolicy
from sink import running_sink

ENVELOPE = Envelope("dev.knargo.git.push", "https://github.com/o/r", "d-1", {"a": 1}, "refs/x")


def test_events_reach_the_sink_with_their_headers_over_one_connection() -> None:
    message = encode(ENVELOPE)
    with running_sink() as sink:
        publisher = Publisher(sink.url)
        assert [publisher.publish(message.headers, message.body) for _ in range(3)] == [1, 1, 1]
        publisher.close()
    assert sink.events == [ENVELOPE] * 3
    assert sink.connections == 1
    assert sink.headers[0]["user-agent"] == "knargo"
    assert sink.headers[0]["ce-time"] == message.headers["ce-time"]


def test_a_connection_the_sink_closed_while_idle_is_replaced_without_an_attempt() -> None:
    """The sink closes every connection after its answer without saying so: each next
    request finds its connection closed and goes out again, once, on a new one."""
    message = encode(ENVELOPE)
    slept: list[float] = []
    with running_sink() as sink:
        sink.drop_idle = True
        publisher = Publisher(sink.url, RetryPolicy((5.0,), timeout=2.0), sleep=slept.append)
        assert [publisher.publish(message.headers, message.body) for _ in range(3)] == [1, 1, 1]
        publisher.close()
    assert sink.events == [ENVELOPE] * 3  # never twice
    assert sink.connections == 3
    assert slept == []


def test_concurrent_events_use_a_connection_each_and_keep_them() -> None:
    message = encode(ENVELOPE)
    with running_sink() as sink:
        sink.delay = 0.05
        publisher = Publisher(sink.url)
        barrier = threading.Barrier(4)

        def post() -> None:
            barrier.wait()
            publisher.publish(message.headers, message.body)

        threads = [threading.Thread(target=post) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        opened = sink.connections
        publisher.publish(message.headers, message.body)
        publisher.close()
    assert len(sink.events) == 5
    assert 1 < opened <= 4
    assert sink.connections == opened  # the fifth reused one of them


def test_a_proxy_from_the_environment_is_used_as_httpx_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sink answers any path, so it stands in for a forwarding proxy here."""
    message = encode(ENVELOPE)
    with running_sink() as sink:
        monkeypatch.setenv("HTTP_PROXY", sink.url)
        publisher = Publisher("http://broker.invalid/", RetryPolicy((), timeout=2.0))
        assert publisher.publish(message.headers, message.body) == 1
        publisher.close()
    assert sink.events == [ENVELOPE]


def test_retries_then_gives_up() -> None:
    message = encode(ENVELOPE)
    with running_sink() as sink:
        sink.fail_next += [503, 429]
        publisher = Publisher(sink.url, RetryPolicy((0.0, 0.0), timeout=2.0))
        assert publisher.publish(message.headers, message.body) == 3
        sink.fail_next += [400]
        with pytest.raises(Exception, match="refused the event: 400"):
            publisher.publish(message.headers, message.body)
        publisher.close()


def test_no_answer_in_time_is_retried_then_the_broker_is_unavailable() -> None:
    message = encode(ENVELOPE)
    slept: list[float] = []
    with running_sink() as sink:
        sink.delay = 0.5
        publisher = Publisher(sink.url, RetryPolicy((0.01,), timeout=0.1), sleep=slept.append)
        with pytest.raises(BrokerUnavailable, match="TimeoutError"):
            publisher.publish(message.headers, message.body)
        publisher.close()
    assert slept == [0.01]
    assert sink.requests == 2


def test_a_closed_port_is_unavailable_after_the_retries() -> None:
    slept: list[float] = []
    publisher = Publisher("http://127.0.0.1:9/", RetryPolicy((0.01, 0.02)), sleep=slept.append)
    with pytest.raises(BrokerUnavailable, match="ConnectionRefusedError"):
        publisher.publish({"ce-id": "1"}, b"{}")
    assert slept == [0.01, 0.02]


def test_the_publisher_keeps_no_cookie_a_sink_sets() -> None:
    message = encode(ENVELOPE)
    with running_sink() as sink:
        sink.set_cookie = True
        publisher = Publisher(sink.url)
        publisher.publish(message.headers, message.body)
        publisher.publish(message.headers, message.body)
        publisher.close()
    assert [h.get("cookie") for h in sink.headers] == [None, None]


@pytest.mark.parametrize("sink", ["ftp://broker/", "broker-ingress/ns/default", "http:///x"])
def test_a_sink_that_is_not_an_http_url_is_refused(sink: str) -> None:
    with pytest.raises(ValueError, match="not an http:// or https:// URL"):
        Publisher(sink)


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "broker-ingress")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert, private = directory / "tls.crt", directory / "tls.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, private


def test_an_https_sink_is_verified_against_the_trusted_certificates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Knative's transport encryption serves the broker over HTTPS with the cluster's CA,
    which the pod trusts through SSL_CERT_FILE (or the system store); an unknown issuer is
    never trusted."""
    message = encode(ENVELOPE)
    cert, key = _certificate(tmp_path)
    with running_sink(tls=(cert, key)) as sink:
        untrusted = Publisher(sink.url, RetryPolicy((), timeout=2.0))
        with pytest.raises(BrokerUnavailable, match="SSLCertVerificationError"):
            untrusted.publish(message.headers, message.body)
        untrusted.close()
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        trusted = Publisher(sink.url, RetryPolicy((), timeout=2.0))
        assert [trusted.publish(message.headers, message.body) for _ in range(2)] == [1, 1]
        trusted.close()
    assert sink.events == [ENVELOPE] * 2
